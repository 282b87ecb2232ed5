"""Start-up checks of settings whose wrong values would break the workflow's guarantees."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register


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
