"""Reads used by the admin, the API and the CLI (query counts do not grow with rows)."""

from __future__ import annotations

from django.db.models import QuerySet

from ..models import Cancellation, MarketplaceAccount, Order
from .reasons import ReasonBook


def reason_choices(account: MarketplaceAccount) -> list[tuple[str, str]]:
    """Normalised reasons valid on this account, then the account's own marketplace codes."""
    return ReasonBook([account.pk]).choices(account)


def order_list() -> QuerySet[Order]:
    return Order.objects.select_related("account").order_by("-ordered_at", "-id")


def cancellation_list() -> QuerySet[Cancellation]:
    return Cancellation.objects.select_related("account", "line__order").order_by("-created_at", "-id")
