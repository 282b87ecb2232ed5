"""A fresh baseline before a cancel is sent: what the marketplace had cancelled on each line just before.

A read-back after an unknown outcome compares the marketplace's state with this baseline. Compared with data
from an old sync, a unit cancelled on the marketplace since (by customer service, the marketplace, another
tool) would pass for ours. So an order last read longer ago than ``CANCELLATION_BASELINE_MAX_AGE_SECONDS`` is
read again first (one read per order; none when a sync or a read was recent), through the sync's own upsert.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from ..marketplaces.base import AccountError, MarketplaceBackend, MarketplaceError, TransientError
from ..models import Cancellation, MarketplaceAccount, OrderLine
from .rows import rows_save


def line_references(line: OrderLine) -> list[str]:
    """Ids of the marketplace cancellations the line lists now (a cancellation's ``baseline_references``)."""
    return [str(e.get("id")) for e in line.marketplace_cancellations if e.get("id")]


def baselines_refresh(*, account: MarketplaceAccount, members: Sequence[Cancellation],
                      backend: MarketplaceBackend) -> int:
    """Read stale orders of ``members`` again and reset those members' baselines; the number of reads made.

    The claim has set every member's baseline from the stored line: with fresh data nothing is read or written.

    A failed read means nothing was sent: it is raised as a transient error with a known outcome (or as the
    account error it is), so the cancel is retried later, never read back as if it might have applied.
    """
    from .orders_sync import SyncReport, orders_page_upsert

    cutoff = timezone.now() - timedelta(seconds=settings.CANCELLATION_BASELINE_MAX_AGE_SECONDS)
    stale = sorted({c.line.order.external_id for c in members
                    if c.line.order.read_at is None or c.line.order.read_at < cutoff})
    if stale:
        try:
            page = [backend.get_order(order_id) for order_id in stale]
        except AccountError:
            raise
        except MarketplaceError as exc:
            raise TransientError(f"Could not read the order before sending: {exc.message}", code=exc.code,
                                 status_code=exc.status_code, retry_after=getattr(exc, "retry_after", None)) from exc
        orders_page_upsert(account=account, page=page, report=SyncReport(account=account.name))
        fresh = OrderLine.objects.select_related("order__account").in_bulk({c.line_id for c in members})
        for c in members:
            c.line = fresh[c.line_id]
            c.baseline_cancelled_quantity = c.line.cancelled_quantity
            c.baseline_references = line_references(c.line)
        rows_save(Cancellation, members, ["baseline_cancelled_quantity", "baseline_references"])
    return len(stale)
