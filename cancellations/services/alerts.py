"""Alerts for people: notices recorded with the change, mailed to ``ALERT_EMAILS`` as one digest per window.

A notice is only recorded when ``ALERT_EMAILS`` is set. The digest goes out at the next sweep when none was
sent within the last ``ALERT_DIGEST_SECONDS``; notices arriving meanwhile wait for the next one (no flood).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from ..models import AlertNotice, Cancellation, MarketplaceAccount
from ..selectors.dashboard import RATE_STATUSES, RATE_WINDOW, account_cancellation_rate
from .locking import skip_locked

#: Cancellation statuses a person must hear about.
ALERT_STATUSES = {"failed": "failed", "needs_attention": "needs attention"}
DIGEST_MAX_NOTICES = 500


def _enabled() -> bool:
    return bool(settings.ALERT_EMAILS)


def notice_add(*, kind: str, subject: str, body: str = "") -> None:
    """Record a notice, unless the same one already waits for the next digest (a repeating error is one line)."""
    subject = subject[:300]
    if _enabled() and not AlertNotice.objects.filter(sent_at__isnull=True, subject=subject).exists():
        AlertNotice.objects.create(kind=kind, subject=subject, body=body[:5000])


def cancellations_notice(cancellations: Sequence[dict], to_status: str) -> None:
    """One notice per cancellation (in its API shape) that failed or needs attention."""
    label = ALERT_STATUSES.get(to_status)
    if not label or not _enabled():
        return
    AlertNotice.objects.bulk_create(
        AlertNotice(
            kind=f"cancellation_{to_status}",
            subject=(f"Cancellation #{c['id']} {label}: {c['account']} order {c['order_external_id']} "
                     f"line {c['line_external_id']} ({c['sku']})")[:300],
            body=f"{c['error_code']}: {c['error_message']}"[:5000] if c["error_code"] else "",
        )
        for c in cancellations
    )


def rate_crossings_notice(created: Sequence[Cancellation], *, now: datetime | None = None) -> None:
    """A notice for each account whose 30-day cancellation rate these new cancellations took over its threshold."""
    if not _enabled() or not created:
        return
    now = now or timezone.now()
    new_ids = [c.pk for c in created]
    for account in MarketplaceAccount.objects.filter(pk__in={c.account_id for c in created}):
        after = account_cancellation_rate(account, now=now)
        if not after.orders or not after.over_threshold:
            continue
        before = (Cancellation.objects.filter(account=account, created_at__gte=now - RATE_WINDOW,
                                              status__in=RATE_STATUSES)
                  .exclude(pk__in=new_ids).values("line__order_id").distinct().count())
        if before / after.orders < after.threshold:
            notice_add(kind="cancellation_rate",
                       subject=f"Account {account.name}: 30-day cancellation rate {after.rate * 100:.2f} % "
                               f"is over the {after.threshold * 100:.2f} % threshold",
                       body=f"{after.cancelled_orders} of {after.orders} orders in the last 30 days.")


def alerts_digest_send(*, now: datetime | None = None) -> int:
    """Mail the waiting notices as one message, unless a digest went out within the window. Returns notices sent."""
    if not _enabled():
        return 0
    now = now or timezone.now()
    last = AlertNotice.objects.aggregate(last=Max("sent_at"))["last"]
    if last and last > now - timedelta(seconds=settings.ALERT_DIGEST_SECONDS):
        return 0
    with transaction.atomic():
        notices = list(AlertNotice.objects.select_for_update(**skip_locked())
                       .filter(sent_at__isnull=True).order_by("id")[:DIGEST_MAX_NOTICES])
        if not notices:
            return 0
        lines = []
        for n in notices:
            lines.append(f"- {n.created_at:%Y-%m-%d %H:%M:%S} UTC  {n.subject}")
            if n.body:
                lines.append(f"    {n.body}")
        send_mail(
            subject=f"[Back-office] {len(notices)} alert(s)",
            message="\n".join(["What needs a person's attention since the last message:", "", *lines]),
            from_email=None, recipient_list=settings.ALERT_EMAILS,
        )
        AlertNotice.objects.filter(pk__in=[n.pk for n in notices]).update(sent_at=now)
    return len(notices)
