"""What a user may do to an existing cancellation: retry it, or ask to verify it now."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from ..models import Cancellation, CancellationStatus
from ..money import parts_to_json
from .call_planning import calls_plan
from .cancellation_request import LineRequest, preview_build
from .cancellation_verify import OUTCOME_UNVERIFIED
from .enqueue import verification_enqueue_on_commit
from .errors import CancellationStateError
from .history import cancellations_transition

# A person settles a needs_attention cancellation: verify again, or retry once they know it did not apply.
RETRYABLE = (CancellationStatus.FAILED, CancellationStatus.REJECTED, CancellationStatus.NEEDS_ATTENTION)
VERIFIABLE = (CancellationStatus.FAILED, CancellationStatus.VERIFYING, CancellationStatus.RETRY_SCHEDULED,
              CancellationStatus.NEEDS_ATTENTION)


def _locked(cancellation: Cancellation) -> Cancellation:
    return (Cancellation.objects.select_for_update(of=("self",)).select_related("line__order__account")
            .get(pk=cancellation.pk))


@transaction.atomic
def cancellation_retry(*, cancellation: Cancellation, user=None, source: str) -> Cancellation:
    """Try a failed or rejected cancellation again, with a fresh attempt budget.

    It is checked and priced again like a new request (the line is locked; amounts, where the marketplace
    takes them, are recomputed from what remains now). If its last outcome was never settled, the order is
    read back first.
    """
    c = _locked(cancellation)
    if c.status not in RETRYABLE:
        raise CancellationStateError(f"Only failed or rejected cancellations can be retried; this one is {c.status}.")
    actor = user if getattr(user, "pk", None) else None
    if c.error_code == OUTCOME_UNVERIFIED:
        cancellations_transition([c], CancellationStatus.VERIFYING, actor=actor, source=source, attempts=0,
                                 next_attempt_at=timezone.now(),
                                 message="Retry requested: reading the order back first")
        verification_enqueue_on_commit([c.pk])
        return c
    preview = preview_build([LineRequest(line_id=c.line_id, quantity=c.quantity)], c.reason_code, lock=True)
    if preview.errors:
        raise CancellationStateError("; ".join(e.message for e in preview.errors))
    amounts = preview.lines_ok()[0].amounts
    fields = {} if amounts is None else {
        "amount": amounts.amount, "shipping_amount": amounts.shipping_amount,
        "taxes": parts_to_json(amounts.taxes), "shipping_taxes": parts_to_json(amounts.shipping_taxes),
    }
    cancellations_transition([c], CancellationStatus.PENDING, actor=actor, source=source, message="Retry requested",
                             attempts=0, next_attempt_at=None, error_code="", error_message="", **fields)
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
