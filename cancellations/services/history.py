"""Status changes of cancellations, each with its history row."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils import timezone

from ..models import Cancellation, CancellationEvent, CancellationStatus, Source
from .errors import StatusMoveError
from .events import cancellations_moved
from .rows import rows_save

S = CancellationStatus

#: The cancellation pipeline: each status and the statuses it may move to. A new cancellation starts
#: ``pending`` (``cancellation_request``); ``confirmed`` is final; ``failed`` and ``rejected`` move again only
#: when a person retries or verifies. Any other move raises ``StatusMoveError``.
STATUS_MOVES: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.SENDING}),
    S.SENDING: frozenset({S.CONFIRMED, S.REJECTED, S.FAILED, S.RETRY_SCHEDULED, S.VERIFYING, S.NEEDS_ATTENTION}),
    S.RETRY_SCHEDULED: frozenset({S.PENDING, S.VERIFYING, S.NEEDS_ATTENTION}),
    # Read back: confirmed, not applied (retry or give up), still unknown (verify again later).
    S.VERIFYING: frozenset({S.CONFIRMED, S.RETRY_SCHEDULED, S.FAILED, S.VERIFYING, S.NEEDS_ATTENTION}),
    S.NEEDS_ATTENTION: frozenset({S.CONFIRMED, S.REJECTED, S.FAILED, S.PENDING}),
    S.CONFIRMED: frozenset(),
    S.REJECTED: frozenset({S.PENDING, S.VERIFYING}),  # retried by a person
    S.FAILED: frozenset({S.PENDING, S.VERIFYING}),  # retried, or read back first when its outcome was never settled
}


def status_move_check(from_status: str, to_status: str) -> None:
    if to_status not in STATUS_MOVES.get(from_status, ()):
        raise StatusMoveError(f"A {from_status or 'new'} cancellation cannot become {to_status}.")


def cancellations_transition(
    cancellations: Sequence[Cancellation], to_status: str, *, actor=None, source: str = Source.SYSTEM,
    message: str = "", **fields,
) -> None:
    """Move cancellations to ``to_status``, saving ``fields`` too, with one history row each.

    Every move is checked against ``STATUS_MOVES`` first: one illegal move raises ``StatusMoveError`` and
    changes nothing. A field value may be a callable taking the cancellation (per-row values). A fixed number
    of queries beyond a handful of rows (see ``rows_save``).
    """
    if not cancellations:
        return
    for c in cancellations:
        status_move_check(c.status, to_status)
    now = timezone.now()
    events = []
    for c in cancellations:
        events.append(
            CancellationEvent(cancellation=c, from_status=c.status, to_status=to_status, actor=actor,
                              source=source, message=message[:2000])
        )
        c.status = to_status
        c.updated_at = now
        for name, value in fields.items():
            setattr(c, name, value(c) if callable(value) else value)
    rows_save(Cancellation, cancellations, ["status", "updated_at", *fields])
    CancellationEvent.objects.bulk_create(events)
    cancellations_moved(cancellations, to_status)  # integration events, in the caller's transaction
