"""What a user may do to an existing cancellation: retry it, or ask to verify it now."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from ..models import IN_FLIGHT_STATUSES, Cancellation, CancellationStatus
from .call_planning import calls_plan
from .enqueue import verification_enqueue_on_commit
from .errors import CancellationStateError
from .history import cancellations_transition

RETRYABLE = (CancellationStatus.FAILED, CancellationStatus.REJECTED)
VERIFIABLE = (CancellationStatus.FAILED, CancellationStatus.VERIFYING, CancellationStatus.RETRY_SCHEDULED)


def _locked(cancellation: Cancellation) -> Cancellation:
    return (Cancellation.objects.select_for_update(of=("self",)).select_related("line__order__account")
            .get(pk=cancellation.pk))


@transaction.atomic
def cancellation_retry(*, cancellation: Cancellation, user=None, source: str) -> Cancellation:
    """Send a failed or rejected cancellation again (its quantity must still be cancellable)."""
    c = _locked(cancellation)
    if c.status not in RETRYABLE:
        raise CancellationStateError(f"Only failed or rejected cancellations can be retried; this one is {c.status}.")
    line = c.line
    held = sum(line.cancellations.filter(status__in=IN_FLIGHT_STATUSES).values_list("quantity", flat=True))
    if line.cancelled_quantity + held + c.quantity > line.quantity:
        raise CancellationStateError(
            f"Line {line.external_id} no longer has {c.quantity} unit(s) left to cancel."
        )
    cancellations_transition([c], CancellationStatus.PENDING, actor=user if getattr(user, "pk", None) else None,
                             source=source, message="Retry requested", next_attempt_at=None, error_code="",
                             error_message="")
    calls_plan([c])
    return c


@transaction.atomic
def cancellation_verify_request(*, cancellation: Cancellation, user=None, source: str) -> Cancellation:
    """Read the order back now to settle a cancellation whose outcome is in doubt."""
    c = _locked(cancellation)
    if c.status not in VERIFIABLE:
        raise CancellationStateError(f"A {c.status} cancellation has nothing to verify.")
    if c.baseline_cancelled_quantity is None:
        raise CancellationStateError("This cancellation was never sent, so there is nothing to verify.")
    cancellations_transition([c], CancellationStatus.VERIFYING, actor=user if getattr(user, "pk", None) else None,
                             source=source, message="Verification requested", next_attempt_at=timezone.now())
    verification_enqueue_on_commit([c.pk])
    return c
