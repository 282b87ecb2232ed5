"""Claim a queued cancel call, send it once, and record what the marketplace answered."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from ..marketplaces.base import (
    AccountError,
    CancelResult,
    LineOutcome,
    MarketplaceError,
    PermanentError,
    TransientError,
)
from ..marketplaces.registry import get_backend
from ..models import CallState, Cancellation, CancellationStatus, MarketplaceAccount, MarketplaceCall
from ..pacing import SendPermit, account_limits, send_permit
from .account_connection import account_next_step
from .baseline import baselines_refresh, line_references
from .call_planning import calls_plan, line_cancels_from
from .call_recording import CallRecorder
from .cancellation_confirm import cancellations_confirm
from .enqueue import call_dispatch_later
from .events import account_error_record
from .history import cancellations_transition
from .scheduling import retries_schedule, verifications_schedule

log = logging.getLogger(__name__)


def _claim(call_id: int, account: MarketplaceAccount) -> tuple[MarketplaceCall, list[Cancellation]] | None:
    """Move the call and its pending cancellations to ``sending``. None if someone else has it.

    The claim is one conditional UPDATE (``queued`` → ``sending``): of two dispatchers, the second waits for the
    first's short transaction and then finds nothing to update.
    """
    now = timezone.now()
    with transaction.atomic():
        if not MarketplaceCall.objects.filter(pk=call_id, state=CallState.QUEUED).update(
                state=CallState.SENDING, claimed_at=now):
            return None
        # The marketplace's payloads (raw) are what a sync stored for people to read: a send needs none of it.
        members = list(Cancellation.objects.select_related("line__order").defer("line__raw", "line__order__raw")
                       .filter(calls=call_id, status=CancellationStatus.PENDING).order_by("pk"))
        if not members:
            MarketplaceCall.objects.filter(pk=call_id).update(state=CallState.ERROR, completed_at=now,
                                                              error="Nothing left to send.")
            return None
        for c in members:  # the call's account, loaded once (not joined, and its credentials decrypted, per row)
            c.account = c.line.order.account = account
        cancellations_transition(
            members, CancellationStatus.SENDING, message=f"Sending in call {call_id}",
            attempts=lambda c: c.attempts + 1, baseline_cancelled_quantity=lambda c: c.line.cancelled_quantity,
            baseline_references=lambda c: line_references(c.line),
            next_attempt_at=None,
        )
    call = MarketplaceCall(pk=call_id, account=account, state=CallState.SENDING, claimed_at=now)
    return call, members


def _send_permit(account: MarketplaceAccount) -> SendPermit | float:
    """The account's pace for a call: a permit, or the seconds after which to ask again."""
    return send_permit(account.pk, account_limits(cap=account.max_concurrent_sends,
                                                  rate=account.rate_limit_per_second))


def call_dispatch(*, call_id: int) -> str:
    """Send one queued cancel call. Safe to run twice or concurrently: only the claimer sends.

    The account's pace comes first (``pacing``): a call that would wait long stays queued, unclaimed, and is
    dispatched again when its turn comes.
    """
    account = MarketplaceAccount.objects.filter(calls=call_id, calls__state=CallState.QUEUED).first()
    if account is None:  # the call is no longer queued
        return "skipped"
    permit = _send_permit(account)
    if not isinstance(permit, SendPermit):
        call_dispatch_later(call_id, permit)
        return "deferred"
    try:
        claimed = _claim(call_id, account)
    except BaseException:
        permit.release()
        raise
    if claimed is None:
        permit.release()
        return "skipped"
    call, members = claimed
    recorder = CallRecorder(account=account, cancellations=members, claimed_call=call)
    try:
        result = _cancel_send(permit, account, recorder, members)
    except MarketplaceError as exc:
        recorder.finish_claimed(error=str(exc))
        _record_failure(call, members, exc)
        return type(exc).__name__
    except Exception as exc:  # a bug or an unexpected library error: the outcome is unknown
        log.exception("Unexpected error sending call %s", call.pk)
        recorder.finish_claimed(error=f"unexpected error: {exc}")
        _record_failure(call, members, TransientError(str(exc), code="internal_error", outcome_unknown=True))
        return "error"
    recorder.finish_claimed()
    _record_result(account, members, result)
    _followups_plan({c.line_id for c in members})
    return "sent"


def _cancel_send(permit: SendPermit, account: MarketplaceAccount, recorder: CallRecorder,
                 members: list[Cancellation]) -> CancelResult:
    """The HTTP exchange, holding one of the account's send slots; a 429 pauses the whole account."""
    try:
        with get_backend(account, on_exchange=recorder.record) as backend:
            baselines_refresh(account=account, members=members, backend=backend)
            return backend.cancel_lines(line_cancels_from(members))
    except TransientError as exc:
        if exc.throttled:
            permit.release(throttled=True, retry_after=exc.retry_after)
        raise
    finally:
        permit.release()


def _followups_plan(line_ids: set[int]) -> None:
    """Cancellations that waited for these lines' call to finish can go now."""
    if not Cancellation.objects.filter(line_id__in=line_ids, status=CancellationStatus.PENDING).exists():
        return  # the usual case: one simple query, no transaction
    with transaction.atomic():
        calls_plan(list(
            Cancellation.objects.select_related("line__order__account")
            .filter(line_id__in=line_ids, status=CancellationStatus.PENDING)
            .exclude(calls__state__in=[CallState.QUEUED, CallState.SENDING])
        ))


@transaction.atomic
def _record_result(account: MarketplaceAccount, members: list[Cancellation], result: CancelResult) -> None:
    by_ref = {r.ref: r for r in result.lines}
    outcomes: dict[str, list[Cancellation]] = {LineOutcome.CONFIRMED: [], LineOutcome.REJECTED: [],
                                               LineOutcome.UNKNOWN: []}
    for c in members:
        line_result = by_ref.get(c.pk)
        outcomes[line_result.outcome if line_result else LineOutcome.UNKNOWN].append(c)
    cancellations_confirm([(c, by_ref[c.pk]) for c in outcomes[LineOutcome.CONFIRMED]])
    cancellations_transition(
        outcomes[LineOutcome.REJECTED], CancellationStatus.REJECTED, message="The marketplace did not apply it",
        error_code=lambda c: by_ref[c.pk].error_code or "not_applied",
        error_message=lambda c: by_ref[c.pk].error_message or "The marketplace did not apply this line.",
    )
    if outcomes[LineOutcome.UNKNOWN]:
        verifications_schedule(outcomes[LineOutcome.UNKNOWN], code="line_missing_from_answer",
                               message="The marketplace's answer did not say what happened to this line")
    if account.last_error:
        MarketplaceAccount.objects.filter(pk=account.pk).update(last_error="")


@transaction.atomic
def _record_failure(call: MarketplaceCall, members: list[Cancellation], exc: MarketplaceError) -> None:
    message = exc.message[:2000]
    guilty = [c for c in members if c.line.external_id in exc.line_errors] if isinstance(exc, PermanentError) else []
    if guilty:
        # Only the named lines were refused. The others were not applied either: they are sent again like any
        # other retry, within the attempt budget and after a backoff (never at once, never without a limit).
        cancellations_transition(
            guilty, CancellationStatus.REJECTED, message="Refused by the marketplace",
            error_code=lambda c: exc.line_errors[c.line.external_id][0] or exc.code,
            error_message=lambda c: exc.line_errors[c.line.external_id][1],
        )
        retries_schedule([c for c in members if c not in guilty], code="sibling_refused",
                         message=f"Another line of the call was refused; sending again without it: {message}")
    elif isinstance(exc, PermanentError):
        # Also when the error names only lines this call did not carry: the request as a whole was refused.
        cancellations_transition(members, CancellationStatus.REJECTED, message=message, error_code=exc.code,
                                 error_message=message)
    elif isinstance(exc, AccountError):
        next_step = account_next_step(call.account, exc)
        account_error_record(account_id=call.account_id, error=f"{exc.code}: {message}. {next_step}")
        cancellations_transition(members, CancellationStatus.FAILED, message=message, error_code=exc.code,
                                 error_message=f"Account problem: {message}")
    elif isinstance(exc, TransientError) and exc.outcome_unknown:
        verifications_schedule(members, code=exc.code, message=message)
    else:
        retries_schedule(members, code=exc.code, message=message, retry_after=getattr(exc, "retry_after", None))
