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
from ..marketplaces.registry import get_backend
from ..models import Cancellation, CancellationStatus, MarketplaceAccount
from .call_planning import calls_plan
from .call_recording import CallRecorder
from .cancellation_confirm import cancellations_confirm
from .cancellation_dispatch import _skip_locked, retry_delay
from .history import cancellations_transition

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=5)


def _claim(ids: Sequence[int] | None) -> list[Cancellation]:
    now = timezone.now()
    with transaction.atomic():
        qs = Cancellation.objects.select_for_update(of=("self",), **_skip_locked()).filter(
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
    with transaction.atomic():
        confirmed, resend = [], []
        for c in members:
            remote_line = remote_lines.get(c.line.external_id)
            baseline = c.baseline_cancelled_quantity or 0
            if remote_line is not None and remote_line.cancelled_quantity >= baseline + c.quantity:
                known = set(Cancellation.objects.filter(line_id=c.line_id).exclude(marketplace_reference="")
                            .values_list("marketplace_reference", flat=True))
                reference = next((e.id for e in reversed(remote_line.cancellations)
                                  if e.id not in known and e.quantity == c.quantity), "")
                confirmed.append((c, LineResult(
                    ref=c.pk, line_id=c.line.external_id, outcome=LineOutcome.CONFIRMED,
                    marketplace_reference=reference,
                    cancelled_quantity=None if remote_line.cancellations else remote_line.cancelled_quantity,
                )))
            else:
                resend.append(c)
        cancellations_confirm(confirmed, message="Confirmed by reading the order back")
        cancellations_transition(resend, CancellationStatus.PENDING, next_attempt_at=None,
                                 message="The order shows it was not applied; sending again")
        calls_plan(resend)
    return "confirmed" if confirmed and not resend else "resent" if resend and not confirmed else "mixed"


def _verify_failed(account: MarketplaceAccount, members: list[Cancellation], exc: MarketplaceError) -> None:
    now = timezone.now()
    if isinstance(exc, TransientError):
        delay = retry_delay(min(c.attempts for c in members), exc.retry_after)
        cancellations_transition(members, CancellationStatus.VERIFYING,
                                 next_attempt_at=now + timedelta(seconds=delay),
                                 message=f"Could not read the order back yet: {exc.message[:300]}")
        return
    if isinstance(exc, AccountError):
        MarketplaceAccount.objects.filter(pk=account.pk).update(last_error=f"{exc.code}: {exc.message[:500]}")
    # Still unknown whether it applied: never resend on our own; a person decides (retry or verify again).
    cancellations_transition(
        members, CancellationStatus.FAILED, error_code=exc.code or "verification_failed",
        error_message=f"Could not verify whether the cancellation applied: {exc.message[:1500]}",
        message="Verification failed",
    )
    log.warning("Verification failed for %s: %s", [c.pk for c in members], exc.message)
