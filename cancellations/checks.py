"""Start-up checks: settings whose wrong values would break the workflow's guarantees, and accounts on an auth
mode their marketplace no longer supports."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.checks import Warning as CheckWarning
from django.db import DatabaseError


def longest_send_seconds() -> float:
    """The longest a send may take: a token fetch then the cancel call, each up to connect + read timeout."""
    connect, read = settings.MARKETPLACE_HTTP_TIMEOUT
    return 2 * (connect + read)


@register()
def stale_sending_outlasts_a_send(app_configs, **kwargs) -> list[Error]:
    """A send still in progress must never look stale: the sweeper would read back and send it again."""
    longest = longest_send_seconds()
    if longest >= settings.CANCELLATION_STALE_SENDING_SECONDS:
        return [Error(
            f"CANCELLATION_STALE_SENDING_SECONDS ({settings.CANCELLATION_STALE_SENDING_SECONDS}) is not longer "
            f"than the longest possible send ({longest:g} s: a token fetch plus the call, each up to the connect "
            "and read timeouts).",
            hint="Raise CANCELLATION_STALE_SENDING_SECONDS or lower MARKETPLACE_CONNECT_TIMEOUT / "
                 "MARKETPLACE_READ_TIMEOUT.",
            id="cancellations.E001",
        )]
    return []


@register(Tags.database)
def accounts_on_deprecated_auth(app_configs, databases=None, **kwargs) -> list[CheckWarning]:
    """Name the accounts still using an auth mode their marketplace deprecates (``AuthMode.deprecation``).

    Tagged ``database``: ``manage.py check --database default`` and ``migrate`` run it.
    """
    from .marketplaces.registry import specs
    from .models import MarketplaceAccount

    deprecated = {spec.key for spec in specs().values() if any(m.deprecation for m in spec.auth_modes)}
    if not deprecated or not databases:
        return []
    try:
        accounts = list(MarketplaceAccount.objects.filter(marketplace__in=deprecated).order_by("name"))
    except DatabaseError:  # not migrated yet
        return []
    warnings = []
    for account in accounts:
        mode = account.spec.auth_mode(account.auth_mode)
        if mode is not None and mode.deprecation:
            warnings.append(CheckWarning(
                f"Account {account.name!r} ({account.spec.label}) still uses {mode.label}.",
                hint=mode.deprecation, obj=account, id="cancellations.W001",
            ))
    return warnings
