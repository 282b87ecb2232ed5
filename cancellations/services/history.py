"""Status changes of cancellations, each with its history row."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils import timezone

from ..models import Cancellation, CancellationEvent, Source
from .events import cancellations_moved


def cancellations_transition(
    cancellations: Sequence[Cancellation], to_status: str, *, actor=None, source: str = Source.SYSTEM,
    message: str = "", **fields,
) -> None:
    """Move cancellations to ``to_status``, saving ``fields`` too, with one history row each.

    A field value may be a callable taking the cancellation (per-row values). At most three queries whatever
    the count: values the rows share go in one plain UPDATE, only values that differ by row in a CASE update
    (which costs CPU per row and field to build).
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
    _rows_save(cancellations, ["status", "updated_at", *fields])
    CancellationEvent.objects.bulk_create(events)
    cancellations_moved(cancellations, to_status)  # integration events, in the caller's transaction


def _rows_save(cancellations: Sequence[Cancellation], names: list[str]) -> None:
    shared = {name: getattr(cancellations[0], name) for name in names
              if all(getattr(c, name) == getattr(cancellations[0], name) for c in cancellations)}
    varying = [name for name in names if name not in shared]
    Cancellation.objects.filter(pk__in=[c.pk for c in cancellations]).update(**shared)
    if varying:
        Cancellation.objects.bulk_update(cancellations, varying)
