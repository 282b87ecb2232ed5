"""Turning a backend's recorded exchanges into ``MarketplaceCall`` rows (the audit trail)."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils import timezone

from ..marketplaces.base import Exchange
from ..models import CallState, Cancellation, MarketplaceAccount, MarketplaceCall


class CallRecorder:
    """The ``on_exchange`` callback of a backend. Each exchange is stored as soon as it happens.

    With a ``claimed_call`` (the outbox row of a cancel), the cancel exchange completes that row; every
    other exchange (a token fetch, an order read) gets its own row, linked to the same cancellations.
    """

    def __init__(self, *, account: MarketplaceAccount, cancellations: Sequence[Cancellation] = (),
                 claimed_call: MarketplaceCall | None = None) -> None:
        self.account = account
        self.cancellations = list(cancellations)
        self.claimed_call = claimed_call
        self.claimed_filled = False

    def record(self, exchange: Exchange) -> None:
        fields = {
            "method": exchange.method, "url": exchange.url, "request_headers": exchange.request_headers,
            "request_body": exchange.request_body, "status_code": exchange.status_code,
            "response_headers": exchange.response_headers, "response_body": exchange.response_body,
            "duration_ms": exchange.duration_ms, "correlation_id": exchange.correlation_id,
            "error": exchange.error, "completed_at": timezone.now(),
            "state": CallState.DONE if exchange.status_code is not None else CallState.ERROR,
        }
        call = self.claimed_call
        if call is not None and exchange.operation == "cancel" and not self.claimed_filled:
            for name, value in fields.items():
                setattr(call, name, value)
            call.save(update_fields=list(fields))
            self.claimed_filled = True
        else:
            call = MarketplaceCall.objects.create(account=self.account, operation=exchange.operation, **fields)
            if self.cancellations:
                call.cancellations.add(*self.cancellations)

    def finish_claimed(self, *, error: str = "") -> None:
        """Close the claimed call if no cancel exchange reached it (e.g. the token fetch failed)."""
        call = self.claimed_call
        if call is None or self.claimed_filled:
            return
        call.state, call.error, call.completed_at = CallState.ERROR, error or "Not sent.", timezone.now()
        call.save(update_fields=["state", "error", "completed_at"])
