"""Small builders for test data (plain functions: the model is small enough not to need factory_boy)."""

from __future__ import annotations

from decimal import Decimal
from itertools import count
from typing import Any

from django.utils import timezone

from cancellations.marketplaces.registry import spec_for
from cancellations.models import MarketplaceAccount, Order, OrderLine

_seq = count(1)


def account_create(
    *, marketplace: str = "mirakl", name: str | None = None, base_url: str = "https://marketplace.example.com",
    credentials: dict[str, Any] | None = None, options: dict[str, Any] | None = None, enabled: bool = True,
) -> MarketplaceAccount:
    if credentials is None:
        credentials = (
            {"api_key": f"mirakl-key-{next(_seq)}"}
            if marketplace == "mirakl"
            else {"auth": "oauth", "client_id": f"client-{next(_seq)}", "client_secret": "s3cret-value"}
        )
    if options is None:
        options = {"auth": credentials.get("auth", "signature")} if spec_for(marketplace).has_auth_choice else {}
    return MarketplaceAccount.objects.create(
        name=name or f"{marketplace}-{next(_seq)}", marketplace=marketplace, base_url=base_url,
        credentials=credentials, options=options, enabled=enabled,
    )


def order_create(*, account: MarketplaceAccount, external_id: str | None = None, lines: int = 1,
                 quantity: int = 2, unit_price: str = "10.00", status: str = "SHIPPING", **kwargs: Any) -> Order:
    kwargs.setdefault("read_at", timezone.now())  # read just now: no baseline read before a cancel
    order = Order.objects.create(
        account=account, external_id=external_id or f"ORDER-{next(_seq)}", status=status,
        currency=kwargs.pop("currency", "CAD"), **kwargs,
    )
    for i in range(1, lines + 1):
        line_create(order=order, external_id=f"{order.external_id}-{i}", quantity=quantity, unit_price=unit_price)
    return order


def line_create(*, order: Order, external_id: str, quantity: int = 2, unit_price: str = "10.00",
                shipping_price: str = "0.00", status: str = "", **kwargs: Any) -> OrderLine:
    unit = Decimal(unit_price)
    default_status = "Acknowledged" if order.account.marketplace.startswith("walmart") else "SHIPPING"
    return OrderLine.objects.create(
        order=order, external_id=external_id, sku=kwargs.pop("sku", f"SKU-{external_id}"), quantity=quantity,
        unit_price=unit, price=kwargs.pop("price", unit * quantity), shipping_price=Decimal(shipping_price),
        status=status or default_status, **kwargs,
    )


def account_pause_over(account_id: int) -> None:
    """As if the account's Retry-After pause had run out (tests move due dates instead of waiting)."""
    from cancellations.pacing import pace_store

    pace_store().update(account_id, lambda state: state.__dict__.update(paused_until=0, next_at=0))
