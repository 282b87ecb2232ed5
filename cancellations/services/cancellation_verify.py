"""Unknown outcomes: read the order back from the marketplace and decide confirmed or send again.

After a timeout, a dropped connection or a 5xx, a cancel may or may not have taken effect. Neither
marketplace offers idempotency keys, so we never resend blindly: the line's cancelled quantity on the
marketplace is compared with what it was when we sent (``baseline_cancelled_quantity``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..marketplaces.base import AccountError, LineOutcome, LineResult, MarketplaceError, TransientError
from ..marketplaces.registry import backend_class, get_backend
from ..models import Cancellation, CancellationStatus, MarketplaceAccount
from ..pacing import account_paused_for, account_throttled
from .call_recording import CallRecorder
from .cancellation_confirm import cancellations_confirm
from .events import account_error_record
from .history import cancellations_transition
from .locking import skip_locked
from .scheduling import retries_schedule, retry_delay

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=5)
#: error_code of a cancellation that failed while its outcome was still unknown (a retry reads back first).
OUTCOME_UNVERIFIED = "outcome_unverified"


def _claim(ids: Sequence[int] | None) -> list[Cancellation]:
    now = timezone.now()
    with transaction.atomic():
        qs = Cancellation.objects.select_for_update(of=("self",), **skip_locked()).filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now), status=CancellationStatus.VERIFYING
        )
        if ids is not None:
            qs = qs.filter(pk__in=ids)
        claimed = list(qs.select_related("line__order__account").order_by("pk"))
        Cancellation.objects.filter(pk__in=[c.pk for c in claimed]).update(next_attempt_at=now + LEASE)
    return claimed


def cancellations_verify(*, cancellation_ids: Sequence[int] | None = None) -> dict[str, int]:
    """Verify due ``verifying`` cancellations (all of them when no ids are given), one order read each order."""
    counts: dict[str, int] = defaultdict(int)
    by_order: dict[int, list[Cancellation]] = defaultdict(list)
    for c in _claim(cancellation_ids):
        by_order[c.line.order_id].append(c)
    for members in by_order.values():
        counts[_verify_order(members)] += len(members)
    return dict(counts)


def _verify_order(members: list[Cancellation]) -> str:
    order = members[0].line.order
    account = order.account
    paused = account_paused_for(account.pk)
    if paused:  # a 429 paused the account: its read-backs wait with its sends
        Cancellation.objects.filter(pk__in=[c.pk for c in members]).update(
            next_attempt_at=timezone.now() + timedelta(seconds=paused))
        return "paused"
    recorder = CallRecorder(account=account, cancellations=members)
    try:
        with get_backend(account, on_exchange=recorder.record) as backend:
            remote = backend.get_order(order.external_id)
    except MarketplaceError as exc:
        if exc.throttled:
            account_throttled(account.pk, retry_after=exc.retry_after)  # the account's sends wait too
        _verify_failed(account, members, exc)
        return "unverified"
    remote_lines = {line.external_id: line for line in remote.lines}
    reports_ids = backend_class(account.marketplace).reports_cancellation_ids
    known = _references_known({c.line_id for c in members})
    with transaction.atomic():
        confirmed, not_applied, ambiguous = [], [], []
        for c in members:
            verdict, detail = _judge(c, remote_lines.get(c.line.external_id), reports_ids, known)
            if verdict == APPLIED:
                confirmed.append((c, detail))
            elif verdict == NOT_APPLIED:
                not_applied.append(c)
            else:
                ambiguous.append((c, detail))
        cancellations_confirm(confirmed, message="Confirmed by reading the order back")
        retries_schedule(not_applied, code="not_applied",
                         message="Reading the order back showed the cancellation was not applied")
        for c, observed in ambiguous:  # never resent on its own: a person settles it
            cancellations_transition(
                [c], CancellationStatus.NEEDS_ATTENTION, error_code=AMBIGUOUS, error_message=observed,
                next_attempt_at=None,
                message="The marketplace's state cannot tell whether our cancellation applied")
    if ambiguous:
        return "needs_attention"
    return "confirmed" if not not_applied else "not_applied" if not confirmed else "mixed"


APPLIED, NOT_APPLIED, UNDECIDABLE = "applied", "not_applied", "undecidable"
#: error_code of a cancellation whose outcome the marketplace's state cannot prove either way.
AMBIGUOUS = "ambiguous_outcome"


def _references_known(line_ids: set[int]) -> dict[int, set[str]]:
    """Marketplace cancellation ids already attributed to a cancellation (ours or found by sync), per line."""
    known: dict[int, set[str]] = defaultdict(set)
    for line_id, reference in Cancellation.objects.filter(line_id__in=line_ids).exclude(
            marketplace_reference="").values_list("line_id", "marketplace_reference"):
        known[line_id].add(reference)
    return known


def _judge(c: Cancellation, remote_line, reports_ids: bool, known: dict[int, set[str]]):
    """(APPLIED, LineResult) | (NOT_APPLIED, None) | (UNDECIDABLE, what was observed).

    Proof, never a guess. Where the marketplace lists cancellations with ids, ours is the one entry that was
    not there when we sent (``baseline_references``), is nobody else's, and has our quantity, reason code and
    amounts: quantity alone proves nothing. Where it only counts units, the line's cancelled
    units must have grown by exactly ours since the (fresh) baseline; any other growth cannot tell ours from
    someone else's.
    """
    if remote_line is None:
        return NOT_APPLIED, None
    if reports_ids and not _gone_unlisted(remote_line):
        before = set(c.baseline_references or ()) | known[c.line_id]
        new = [e for e in remote_line.cancellations if e.id not in before]
        ours = [e for e in new if _is_ours(c, e)]
        if len(ours) == 1:
            return APPLIED, LineResult(ref=c.pk, line_id=c.line.external_id, outcome=LineOutcome.CONFIRMED,
                                       marketplace_reference=ours[0].id, line_status=remote_line.status)
        if not ours:
            return NOT_APPLIED, None
        return UNDECIDABLE, (f"{len(ours)} new cancellations on line {c.line.external_id} match ours "
                             f"({c.quantity} unit(s), reason {c.reason_code}, amount {c.amount}): "
                             f"{', '.join(e.id for e in ours)}")
    base = c.baseline_cancelled_quantity or 0
    grown = remote_line.cancelled_quantity - base
    if grown == c.quantity:
        return APPLIED, LineResult(ref=c.pk, line_id=c.line.external_id, outcome=LineOutcome.CONFIRMED,
                                   cancelled_quantity=remote_line.cancelled_quantity, line_status=remote_line.status)
    if grown <= 0:
        return NOT_APPLIED, None
    return UNDECIDABLE, (f"Line {c.line.external_id}: {remote_line.cancelled_quantity} unit(s) cancelled on the "
                         f"marketplace, {base} when we sent ours of {c.quantity}: the {grown} new unit(s) may be "
                         "someone else's")


def _gone_unlisted(remote_line) -> bool:
    """Units gone that no entry lists: a line refused whole or cancelled with its whole order
    has no cancellation entry to match, so its units decide, as where the marketplace only counts them."""
    return remote_line.cancelled_quantity > sum(e.quantity for e in remote_line.cancellations)


def _is_ours(c: Cancellation, entry) -> bool:
    """Same quantity, reason code (when reported) and amounts (when we sent some) as ours."""
    same_reason = not entry.reason_code or entry.reason_code == c.reason_code
    same_amounts = not c.amount or (entry.amount, entry.shipping_amount) == (c.amount, c.shipping_amount)
    return entry.quantity == c.quantity and same_reason and same_amounts


@transaction.atomic
def _verify_failed(account: MarketplaceAccount, members: list[Cancellation], exc: MarketplaceError) -> None:
    now = timezone.now()
    if isinstance(exc, TransientError):
        delay = retry_delay(min(c.attempts for c in members), exc.retry_after)
        cancellations_transition(members, CancellationStatus.VERIFYING,
                                 next_attempt_at=now + timedelta(seconds=delay),
                                 message=f"Could not read the order back yet: {exc.message[:300]}")
        return
    if isinstance(exc, AccountError):
        account_error_record(account_id=account.pk, error=exc.summary())
    # Still unknown whether it applied: never resend on our own; a person decides (retry or verify again).
    cancellations_transition(
        members, CancellationStatus.FAILED, error_code=OUTCOME_UNVERIFIED,
        error_message=f"Could not verify whether the cancellation applied ({exc.code}): {exc.message[:1500]}",
        message="Verification failed",
    )
    log.warning("Verification failed for %s: %s", [c.pk for c in members], exc.message)
