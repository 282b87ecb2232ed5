"""Status changes of cancellations, each with its history row."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils import timezone

from ..models import Cancellation, CancellationEvent, Source
from .events import cancellations_moved
from .rows import rows_save


def cancellations_transition(
    cancellations: Sequence[Cancellation], to_status: str, *, actor=None, source: str = Source.SYSTEM,
    message: str = "", **fields,
) -> None:
    """Move cancellations to ``to_status``, saving ``fields`` too, with one history row each.

    A field value may be a callable taking the cancellation (per-row values). A fixed number of queries beyond
    a handful of rows (see ``rows_save``).
    """
    if not cancellations:
        return
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

