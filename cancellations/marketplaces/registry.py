"""Which backend serves which account (settings.MARKETPLACE_BACKENDS, like anymail's backends)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.utils.module_loading import import_string

from .base import AccountConfig, ConfigurationError, ExchangeCallback, MarketplaceBackend

if TYPE_CHECKING:
    from ..models import MarketplaceAccount


def backend_class(marketplace: str) -> type[MarketplaceBackend]:
    try:
        return import_string(settings.MARKETPLACE_BACKENDS[marketplace])
    except KeyError as exc:
        raise LookupError(f"No backend configured for marketplace {marketplace!r}") from exc


def account_config(account: MarketplaceAccount) -> AccountConfig:
    """The backend's view of ``account``; refuses credentials given for another destination."""
    if not account.credentials_bound_here():
        raise ConfigurationError(
            "The stored credentials were given for another host, marketplace or auth mode; enter them again.",
            code="credentials_not_bound",
        )
    return AccountConfig(
        name=account.name,
        marketplace=account.marketplace,
        base_url=account.base_url,
        credentials=dict(account.credentials or {}),
        options=dict(account.options or {}),
    )


def get_backend(account: MarketplaceAccount, *, on_exchange: ExchangeCallback | None = None) -> MarketplaceBackend:
    return backend_class(account.marketplace)(account_config(account), on_exchange=on_exchange)
