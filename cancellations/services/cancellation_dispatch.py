"""Claim a queued cancel call, send it once, and record what the marketplace answered."""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
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
from .call_planning import calls_plan, line_cancel_from
from .call_recording import CallRecorder
from .cancellation_confirm import cancellations_confirm
from .history import cancellations_transition

log = logging.getLogger(__name__)


def _skip_locked() -> dict:
    return {"skip_locked": True} if connection.features.has_select_for_update_skip_locked else {}


def retry_delay(attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter, never sooner than the marketplace's Retry-After."""
    base = settings.CANCELLATION_RETRY_BASE_SECONDS * (2 ** max(attempts - 1, 0))
    delay = random.uniform(base / 2, base)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, settings.CANCELLATION_RETRY_MAX_SECONDS)


def _claim(call_id: int) -> tuple[MarketplaceCall, list[Cancellation]] | None:
    """Lock the call, move it and its pending cancellations to ``sending``. None if someone else has it."""
    with transaction.atomic():
        call = (
            # of=("self",): lock the call row only. Locking the joined account row as well would make a
            # second dispatcher skip every other call of that account while this claim is open.
            MarketplaceCall.objects.select_for_update(of=("self",), **_skip_locked())
            .select_related("account")
            .filter(pk=call_id, state=CallState.QUEUED)
            .first()
        )
        if call is None:
            return None
        members = list(
            call.cancellations.select_related("line__order__account")
            .filter(status=CancellationStatus.PENDING)
            .order_by("pk")
        )
        now = timezone.now()
        call.state, call.claimed_at = CallState.SENDING, now
        if not members:
            call.state, call.completed_at, call.error = CallState.ERROR, now, "Nothing left to send."
        call.save(update_fields=["state", "claimed_at", "completed_at", "error"])
        cancellations_transition(
            members, CancellationStatus.SENDING, message=f"Sending in call {call.pk}",
            attempts=lambda c: c.attempts + 1, baseline_cancelled_quantity=lambda c: c.line.cancelled_quantity,
            next_attempt_at=None,
        )
        return (call, members) if members else None


def call_dispatch(*, call_id: int) -> str:
    """Send one queued cancel call. Safe to run twice or concurrently: only the claimer sends."""
    claimed = _claim(call_id)
    if claimed is None:
        return "skipped"
    call, members = claimed
    account = call.account
    recorder = CallRecorder(account=account, cancellations=members, claimed_call=call)
    try:
        with get_backend(account, on_exchange=recorder.record) as backend:
            result = backend.cancel_lines([line_cancel_from(c) for c in members])
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


@transaction.atomic
def _followups_plan(line_ids: set[int]) -> None:
    """Cancellations that waited for these lines' call to finish can go now."""
    waiting = list(
        Cancellation.objects.select_related("line__order__account")
        .filter(line_id__in=line_ids, status=CancellationStatus.PENDING)
        .exclude(calls__state__in=[CallState.QUEUED, CallState.SENDING])
    )
    calls_plan(waiting)


@transaction.atomic
def _record_result(account: MarketplaceAccount, members: list[Cancellation], result: CancelResult) -> None:
    by_ref = {r.ref: r for r in result.lines}
    confirmed, rejected = [], []
    for c in members:
        line_result = by_ref.get(c.pk)
        if line_result is not None and line_result.outcome == LineOutcome.CONFIRMED:
            confirmed.append((c, line_result))
        else:
            rejected.append((c, line_result))
    cancellations_confirm(confirmed)
    for c, r in rejected:
        cancellations_transition(
            [c], CancellationStatus.REJECTED, message="The marketplace did not apply it",
            error_code=(r.error_code if r else "") or "not_applied",
            error_message=(r.error_message if r else "") or "The marketplace's answer did not include this line.",
        )
    if account.last_error:
        MarketplaceAccount.objects.filter(pk=account.pk).update(last_error="")


@transaction.atomic
def _record_failure(call: MarketplaceCall, members: list[Cancellation], exc: MarketplaceError) -> None:
    now = timezone.now()
    message = exc.message[:2000]
    if isinstance(exc, PermanentError) and exc.line_errors:
        # Only the named lines were refused; the others go back to pending and travel in a new call.
        guilty = [c for c in members if c.line.external_id in exc.line_errors]
        innocent = [c for c in members if c.line.external_id not in exc.line_errors]
        for c in guilty:
            code, text = exc.line_errors[c.line.external_id]
            cancellations_transition([c], CancellationStatus.REJECTED, message=text, error_code=code or exc.code,
                                     error_message=text)
        cancellations_transition(innocent, CancellationStatus.PENDING,
                                 message="Another line of the call was refused; sending again without it")
        if innocent:
            calls_plan(innocent)
    elif isinstance(exc, PermanentError):
        cancellations_transition(members, CancellationStatus.REJECTED, message=message, error_code=exc.code,
                                 error_message=message)
    elif isinstance(exc, AccountError):
        MarketplaceAccount.objects.filter(pk=call.account_id).update(last_error=f"{exc.code}: {message}")
        cancellations_transition(members, CancellationStatus.FAILED, message=message, error_code=exc.code,
                                 error_message=f"Account problem: {message}")
    elif isinstance(exc, TransientError) and exc.outcome_unknown:
        cancellations_transition(
            members, CancellationStatus.VERIFYING, next_attempt_at=now, error_code=exc.code,
            error_message=message, message=f"Outcome unknown ({message}); reading the order back",
        )
        ids = [c.pk for c in members]
        transaction.on_commit(lambda: _enqueue_verify(ids), robust=True)
    else:
        _schedule_retries(members, exc, now)


def _schedule_retries(members: list[Cancellation], exc: MarketplaceError, now) -> None:
    retry_after = getattr(exc, "retry_after", None)
    for c in members:
        if c.attempts >= settings.CANCELLATION_MAX_ATTEMPTS:
            cancellations_transition([c], CancellationStatus.FAILED, error_code=exc.code,
                                     error_message=exc.message[:2000],
                                     message=f"Gave up after {c.attempts} attempts: {exc.message[:500]}")
        else:
            when = now + timedelta(seconds=retry_delay(c.attempts, retry_after))
            cancellations_transition([c], CancellationStatus.RETRY_SCHEDULED, next_attempt_at=when,
                                     error_code=exc.code, error_message=exc.message[:2000],
                                     message=f"Retry at {when:%Y-%m-%d %H:%M:%S} UTC")


def _enqueue_verify(ids: list[int]) -> None:
    from ..tasks import cancellations_verify_task

    cancellations_verify_task.delay(ids)
