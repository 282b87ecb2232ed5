"""The sweeper: picks up everything due so nothing asked for is ever lost, with or without a broker.

- calls claimed long ago with no answer recorded (a worker died mid-send) → their cancellations verify;
- ``verifying`` cancellations whose time has come → read the order back;
- ``retry_scheduled`` whose time has come → pending again;
- pending cancellations without a call (after a crash, a partial rejection, a busy line) → planned;
- queued calls (the on-commit enqueue may have been lost) → dispatched.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..models import CallState, Cancellation, CancellationStatus, MarketplaceCall
from .call_planning import calls_plan
from .cancellation_dispatch import _skip_locked, call_dispatch
from .cancellation_verify import cancellations_verify
from .history import cancellations_transition


def _stale_calls_release(now) -> int:
    cutoff = now - timedelta(seconds=settings.CANCELLATION_STALE_SENDING_SECONDS)
    with transaction.atomic():
        stale = list(MarketplaceCall.objects.select_for_update(**_skip_locked())
                     .filter(state=CallState.SENDING, claimed_at__lt=cutoff, operation="cancel"))
        if not stale:
            return 0
        MarketplaceCall.objects.filter(pk__in=[c.pk for c in stale]).update(
            state=CallState.ERROR, completed_at=now, error="No answer was recorded (the sender stopped).")
        sending = list(Cancellation.objects.filter(calls__in=stale, status=CancellationStatus.SENDING))
        cancellations_transition(sending, CancellationStatus.VERIFYING, next_attempt_at=now,
                                 message="The send was interrupted; reading the order back")
    return len(stale)


def _due_retries_release(now) -> int:
    with transaction.atomic():
        due = list(Cancellation.objects.select_for_update(**_skip_locked()).filter(
            status=CancellationStatus.RETRY_SCHEDULED, next_attempt_at__lte=now))
        cancellations_transition(due, CancellationStatus.PENDING, next_attempt_at=None, message="Retry is due")
    return len(due)


def _unplanned_plan() -> int:
    with transaction.atomic():
        active = MarketplaceCall.objects.filter(state__in=[CallState.QUEUED, CallState.SENDING])
        unplanned = list(
            Cancellation.objects.select_for_update(of=("self",), **_skip_locked())
            .select_related("line__order__account")
            .filter(status=CancellationStatus.PENDING)
            .exclude(calls__in=active)
            .order_by("pk")[:1000]
        )
        return len(calls_plan(unplanned))


def cancellations_sweep(*, dispatch_inline: bool = True, queued_older_than: float = 0) -> dict[str, int]:
    """Run one sweep. With ``dispatch_inline`` queued calls are sent here; otherwise they are enqueued."""
    now = timezone.now()
    report = {
        "stale_calls": _stale_calls_release(now),
        "retries_due": _due_retries_release(now),
    }
    report["verified"] = sum(cancellations_verify().values())
    report["planned_calls"] = _unplanned_plan()
    queued = list(MarketplaceCall.objects.filter(
        state=CallState.QUEUED, operation="cancel",
        created_at__lte=timezone.now() - timedelta(seconds=queued_older_than),
    ).order_by("pk").values_list("pk", flat=True)[:500])
    if dispatch_inline:
        report["sent"] = sum(1 for pk in queued if call_dispatch(call_id=pk) == "sent")
    else:
        from ..tasks import call_dispatch_task

        for pk in queued:
            call_dispatch_task.delay(pk)
        report["enqueued"] = len(queued)
    return report
