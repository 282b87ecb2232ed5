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
    recorder = CallRecorder(account=account, cancellations=members)
    try:
        with get_backend(account, on_exchange=recorder.record) as backend:
            remote = backend.get_order(order.external_id)
    except MarketplaceError as exc:
        _verify_failed(account, members, exc)
        return "unverified"
    remote_lines = {line.external_id: line for line in remote.lines}
    reports_ids = backend_class(account.marketplace).reports_cancellation_ids
    with transaction.atomic():
        confirmed, not_applied = [], []
        for c in members:
            result = _applied(c, remote_lines.get(c.line.external_id), reports_ids)
            if result:
                confirmed.append((c, result))
            else:
                not_applied.append(c)
        cancellations_confirm(confirmed, message="Confirmed by reading the order back")
        retries_schedule(not_applied, code="not_applied",
                         message="Reading the order back showed the cancellation was not applied")
    return "confirmed" if not not_applied else "not_applied" if not confirmed else "mixed"


def _applied(c: Cancellation, remote_line, reports_ids: bool) -> LineResult | None:
    """The confirmation if the marketplace's line shows this cancellation took effect, else None.

    Units cancelled must have grown by at least ours since we sent it; where the marketplace lists its
    cancellations with ids, one we do not know yet, of our quantity, must also be there.
    """
    if remote_line is None or remote_line.cancelled_quantity < (c.baseline_cancelled_quantity or 0) + c.quantity:
        return None
    known = set(Cancellation.objects.filter(line_id=c.line_id).exclude(marketplace_reference="")
                .values_list("marketplace_reference", flat=True))
    reference = next((e.id for e in reversed(remote_line.cancellations)
                      if e.id not in known and e.quantity == c.quantity), "")
    if reports_ids and not reference:
        return None
    return LineResult(ref=c.pk, line_id=c.line.external_id, outcome=LineOutcome.CONFIRMED,
                      marketplace_reference=reference,
                      cancelled_quantity=None if reports_ids else remote_line.cancelled_quantity)


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
        account_error_record(account_id=account.pk, error=f"{exc.code}: {exc.message[:500]}")
    # Still unknown whether it applied: never resend on our own; a person decides (retry or verify again).
    cancellations_transition(
        members, CancellationStatus.FAILED, error_code=OUTCOME_UNVERIFIED,
        error_message=f"Could not verify whether the cancellation applied ({exc.code}): {exc.message[:1500]}",
        message="Verification failed",
    )
    log.warning("Verification failed for %s: %s", [c.pk for c in members], exc.message)
