"""The sweeper: picks up everything due so nothing asked for is ever lost, with or without a broker.

- cancellations left in ``sending`` long ago (a worker died before or after the call) → they verify;
- ``verifying`` cancellations whose time has come → read the order back;
- ``retry_scheduled`` whose time has come → pending again;
- pending cancellations without a call (after a crash, a partial rejection, a busy line) → planned;
- queued calls whose message was never published or is long overdue (lost) → dispatched.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..models import CallState, Cancellation, CancellationStatus, MarketplaceCall
from .call_planning import calls_plan
from .cancellation_dispatch import call_dispatch
from .cancellation_verify import cancellations_verify
from .enqueue import calls_enqueue
from .history import cancellations_transition
from .locking import skip_locked


def _stale_sends_release(now) -> int:
    """Sends with no result recorded long after they started: the sender stopped somewhere. Read back."""
    cutoff = now - timedelta(seconds=settings.CANCELLATION_STALE_SENDING_SECONDS)
    with transaction.atomic():
        MarketplaceCall.objects.filter(state=CallState.SENDING, claimed_at__lt=cutoff).update(
            state=CallState.ERROR, completed_at=now, error="No answer was recorded (the sender stopped).")
        stale = list(Cancellation.objects.select_for_update(of=("self",), **skip_locked())
                     .filter(status=CancellationStatus.SENDING, updated_at__lt=cutoff))
        cancellations_transition(stale, CancellationStatus.VERIFYING, next_attempt_at=now,
                                 message="The send was interrupted; reading the order back")
    return len(stale)


def _due_retries_release(now) -> int:
    with transaction.atomic():
        due = list(Cancellation.objects.select_for_update(**skip_locked()).filter(
            status=CancellationStatus.RETRY_SCHEDULED, next_attempt_at__lte=now))
        cancellations_transition(due, CancellationStatus.PENDING, next_attempt_at=None, message="Retry is due")
    return len(due)


def _unplanned_plan() -> int:
    with transaction.atomic():
        active = MarketplaceCall.objects.filter(state__in=[CallState.QUEUED, CallState.SENDING])
        unplanned = list(
            Cancellation.objects.select_for_update(of=("self",), **skip_locked())
            .select_related("line__order__account")
            .filter(status=CancellationStatus.PENDING)
            .exclude(calls__in=active)
            .order_by("pk")[:1000]
        )
        return len(calls_plan(unplanned))


def cancellations_sweep(*, dispatch_inline: bool = True, queued_older_than: float = 0,
                        redispatch_after: float = 0) -> dict[str, int]:
    """Run one sweep. With ``dispatch_inline`` queued calls are sent here; otherwise they are enqueued.

    A queued call never published (its on-commit enqueue was lost) is taken once ``queued_older_than`` seconds
    old; one already published only ``redispatch_after`` seconds after its dispatch was due, so a long queue in
    the broker or a pace's wait is not published again and again.
    """
    now = timezone.now()
    report = {
        "stale_sends": _stale_sends_release(now),
        "retries_due": _due_retries_release(now),
    }
    report["verified"] = sum(cancellations_verify().values())
    report["planned_calls"] = _unplanned_plan()
    queued = list(MarketplaceCall.objects.filter(
        Q(dispatch_expected_at__isnull=True, created_at__lte=timezone.now() - timedelta(seconds=queued_older_than))
        | Q(dispatch_expected_at__lte=timezone.now() - timedelta(seconds=redispatch_after)),
        state=CallState.QUEUED, operation="cancel",
    ).order_by("pk").values_list("pk", flat=True)[:500])
    if dispatch_inline:
        report["sent"] = sum(1 for pk in queued if call_dispatch(call_id=pk) == "sent")
    else:
        calls_enqueue(queued)
        report["enqueued"] = len(queued)
    return report
