"""Recording events in the caller's transaction, with a webhook delivery per subscribed endpoint.

Which changes make which event is data (the two tables below), so a new status or source only needs a line
here. ``data`` is the object as the API shows it at that moment (the API serializers, bodies never included).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import transaction
from django.db.models import Prefetch, prefetch_related_objects
from django.utils import timezone

from ..models import (
    Cancellation,
    Event,
    InventoryAdjustment,
    MarketplaceAccount,
    MarketplaceCall,
    WebhookDelivery,
    WebhookEndpoint,
)
from . import alerts
from .enqueue import deliveries_enqueue_on_commit
from .rows import relations_load

REQUESTED = "cancellation.requested"
#: A cancellation moving to one of these statuses records this event.
STATUS_EVENT_TYPES = {
    "confirmed": "cancellation.confirmed",
    "rejected": "cancellation.rejected",
    "failed": "cancellation.failed",
    "needs_attention": "cancellation.needs_attention",
}
#: A cancellation created with one of these sources records this event instead of ``cancellation.requested``.
SOURCE_EVENT_TYPES = {"marketplace": "cancellation.marketplace_detected"}
INVENTORY_ADJUSTMENT_CREATED = "inventory_adjustment.created"
ACCOUNT_ERROR = "account.error"

EVENT_TYPES = (REQUESTED, *STATUS_EVENT_TYPES.values(), *SOURCE_EVENT_TYPES.values(),
               INVENTORY_ADJUSTMENT_CREATED, ACCOUNT_ERROR)


def events_record(event_type: str, objects: Iterable[dict]) -> list[Event]:
    """One event per object (already in its API shape), and the deliveries owed for them. Caller's transaction."""
    events = Event.objects.bulk_create(Event(type=event_type, data=data) for data in objects)
    if not events:
        return events
    endpoints = [pk for pk, types in WebhookEndpoint.objects.filter(enabled=True).values_list("pk", "events")
                 if event_type in types]
    now = timezone.now()
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(endpoint_id=endpoint, event=event, next_attempt_at=now, window_started_at=now)
        for event in events for endpoint in endpoints
    )
    if deliveries:
        deliveries_enqueue_on_commit([d.pk for d in deliveries])
    return events


def _cancellations_as_api(cancellations: Sequence[Cancellation]) -> list[dict]:
    """The cancellations as ``GET /api/cancellations/`` shows them.

    The rows in hand are what the caller has just written, so they are not read again: only relations not
    loaded yet are, and the calls (always read afresh: a call may have been recorded since they were loaded).
    """
    from ..api.serializers import CancellationSerializer, as_api

    rows = sorted(cancellations, key=lambda c: c.pk)
    for c in rows:
        getattr(c, "_prefetched_objects_cache", {}).pop("calls", None)
    for path in ("account", "line", "line__order", "requested_by"):
        relations_load(rows, path)
    prefetch_related_objects(rows, Prefetch("calls", queryset=MarketplaceCall.objects.order_by("created_at", "id")))
    return as_api(CancellationSerializer, rows)


def cancellations_moved(cancellations: Sequence[Cancellation], to_status: str) -> None:
    """Hook of the one status-change function: the event for ``to_status``, if it has one."""
    event_type = STATUS_EVENT_TYPES.get(to_status)
    if not cancellations or event_type is None:
        return
    with transaction.atomic(savepoint=False):
        objects = _cancellations_as_api(cancellations)
        events_record(event_type, objects)
        alerts.cancellations_notice(objects, to_status)


def cancellations_created(cancellations: Sequence[Cancellation]) -> None:
    """Hook of cancellation creation: ``cancellation.requested`` or the event its source calls for."""
    if not cancellations:
        return
    with transaction.atomic(savepoint=False):
        by_type: dict[str, list[dict]] = {}
        for data in _cancellations_as_api(cancellations):
            by_type.setdefault(SOURCE_EVENT_TYPES.get(data["source"], REQUESTED), []).append(data)
        for event_type, objects in by_type.items():
            events_record(event_type, objects)
        alerts.rate_crossings_notice(cancellations)


def inventory_adjustments_created(adjustments: Sequence[InventoryAdjustment]) -> None:
    """``inventory_adjustment.created`` for rows just created (shown as they are, not read again)."""
    from ..api.serializers import InventoryAdjustmentSerializer, as_api

    if not adjustments:
        return
    relations_load(adjustments, "account")
    events_record(INVENTORY_ADJUSTMENT_CREATED, as_api(InventoryAdjustmentSerializer, adjustments))


@transaction.atomic
def account_error_record(*, account_id: int, error: str) -> None:
    """Store an account-level problem (bad key, 401/403) with its ``account.error`` event and alert."""
    from ..api.accounts import AccountSerializer

    MarketplaceAccount.objects.filter(pk=account_id).update(last_error=error)
    account = MarketplaceAccount.objects.get(pk=account_id)
    events_record(ACCOUNT_ERROR, [AccountSerializer(account).data])
    alerts.notice_add(kind="account_error", subject=f"Account {account.name}: {error[:200]}", body=error)
