"""The marketplaces this installation knows (``settings.MARKETPLACES``, the one list) and their backends.

Everything that varies by marketplace is read from its spec here: model choices, forms, serializers, the
sandbox and the demo. A backend class can be replaced per marketplace with ``settings.MARKETPLACE_BACKENDS``
(like anymail's test backend).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils.module_loading import import_string

from .base import AccountConfig, ConfigurationError, ExchangeCallback, MarketplaceBackend
from .spec import MarketplaceSpec

if TYPE_CHECKING:
    from ..models import MarketplaceAccount


@cache
def _load(paths: tuple[str, ...]) -> dict[str, MarketplaceSpec]:
    specs = [import_string(path) for path in paths]
    return {spec.key: spec for spec in specs}


def specs() -> dict[str, MarketplaceSpec]:
    """Every configured marketplace's spec by key, in the settings' order."""
    return _load(tuple(settings.MARKETPLACES))


def spec_for(marketplace: str) -> MarketplaceSpec:
    try:
        return specs()[marketplace]
    except KeyError:
        raise LookupError(f"Marketplace {marketplace!r} is not configured (settings.MARKETPLACES)") from None


def marketplace_choices() -> list[tuple[str, str]]:
    """(key, label) of every configured marketplace: the model field's choices (a callable: no migration)."""
    return [(spec.key, spec.label) for spec in specs().values()]


def backend_class(marketplace: str) -> type[MarketplaceBackend]:
    override = getattr(settings, "MARKETPLACE_BACKENDS", {}).get(marketplace)
    return import_string(override or spec_for(marketplace).backend)


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
