"""Read-only figures for the operations dashboard and the cancel confirmation page.

Every function runs a fixed number of queries, whatever the number of accounts, orders or cancellations:
counts are grouped in the database, never gathered row by row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Q
from django.utils import timezone

from .marketplaces.registry import spec_for
from .models import (
    IN_FLIGHT_STATUSES,
    Cancellation,
    CancellationStatus,
    InventoryAdjustment,
    MarketplaceAccount,
    Order,
)

RATE_WINDOW = timedelta(days=30)
VERIFYING_STALE_AFTER = timedelta(minutes=15)
# Cancellations that count against the seller: confirmed, or on their way to the marketplace.
RATE_STATUSES = (CancellationStatus.CONFIRMED, *IN_FLIGHT_STATUSES)
_RATE_PLACES = Decimal("0.0001")


def needs_attention_q(now: datetime | None = None) -> Q:
    """Failed, rejected or needs attention, or stuck verifying for more than 15 minutes (the admin filter too)."""
    now = now or timezone.now()
    return Q(status__in=(CancellationStatus.FAILED, CancellationStatus.REJECTED,
                         CancellationStatus.NEEDS_ATTENTION)) | Q(
        status=CancellationStatus.VERIFYING, updated_at__lt=now - VERIFYING_STALE_AFTER
    )


def rate_threshold(marketplace: str) -> Decimal:
    return spec_for(marketplace).rate_threshold


def _ratio(part: int, whole: int) -> Decimal:
    """A share in [0, ...] with four decimals; zero when there is nothing to divide by."""
    if not whole:
        return Decimal("0")
    return (Decimal(part) / Decimal(whole)).quantize(_RATE_PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class RateInfo:
    """Seller cancellation rate over the last 30 days, before and after a proposed cancellation.

    rate = distinct orders with a confirmed or in-flight cancellation created in the window
           / orders placed (``ordered_at``) in the window.
    """

    rate: Decimal
    rate_after: Decimal
    threshold: Decimal
    orders: int
    cancelled_orders: int
    cancelled_orders_after: int = 0

    @property
    def over_threshold(self) -> bool:
        return self.rate >= self.threshold  # Walmart CA: the rate must stay *under* 3 %

    @property
    def over_threshold_after(self) -> bool:
        return self.rate_after >= self.threshold


def account_cancellation_rate(
    account: MarketplaceAccount, *, extra_order_ids: Iterable[int] = (), now: datetime | None = None
) -> RateInfo:
    """The account's rate now and after cancelling something on ``extra_order_ids`` (three queries at most)."""
    now = now or timezone.now()
    since = now - RATE_WINDOW
    orders = Order.objects.filter(account=account, ordered_at__gte=since, ordered_at__lte=now).count()
    counted = Cancellation.objects.filter(account=account, created_at__gte=since, status__in=RATE_STATUSES)
    cancelled = counted.values("line__order_id").distinct().count()
    extra = set(extra_order_ids)
    already = counted.filter(line__order_id__in=extra).values("line__order_id").distinct().count() if extra else 0
    cancelled_after = cancelled + len(extra) - already
    return RateInfo(
        rate=_ratio(cancelled, orders),
        rate_after=_ratio(cancelled_after, orders),
        threshold=rate_threshold(account.marketplace),
        orders=orders,
        cancelled_orders=cancelled,
        cancelled_orders_after=cancelled_after,
    )


@dataclass
class AccountSummary:
    account: MarketplaceAccount
    by_status: dict[str, int] = field(default_factory=dict)
    needs_attention: int = 0
    pending_adjustments: int = 0
    rate: RateInfo | None = None

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    def status_rows(self) -> list[tuple[str, str, int]]:
        """(status value, label, count) in the pipeline's order, zero rows included."""
        return [(value, label, self.by_status.get(value, 0)) for value, label in CancellationStatus.choices]


def dashboard_summaries(*, now: datetime | None = None) -> list[AccountSummary]:
    """One summary per account; six queries in all."""
    now = now or timezone.now()
    since = now - RATE_WINDOW
    summaries = {a.pk: AccountSummary(account=a) for a in MarketplaceAccount.objects.all()}

    for row in Cancellation.objects.values("account_id", "status").annotate(n=Count("id")).order_by():
        summaries[row["account_id"]].by_status[row["status"]] = row["n"]
    for row in _count_by_account(Cancellation.objects.filter(needs_attention_q(now)), Count("id")):
        summaries[row["account_id"]].needs_attention = row["n"]
    for row in _count_by_account(InventoryAdjustment.objects.filter(exported_at__isnull=True), Count("id")):
        summaries[row["account_id"]].pending_adjustments = row["n"]

    orders: dict[int, int] = defaultdict(int)
    cancelled: dict[int, int] = defaultdict(int)
    for row in _count_by_account(Order.objects.filter(ordered_at__gte=since, ordered_at__lte=now), Count("id")):
        orders[row["account_id"]] = row["n"]
    counted = Cancellation.objects.filter(created_at__gte=since, status__in=RATE_STATUSES)
    for row in _count_by_account(counted, Count("line__order_id", distinct=True)):
        cancelled[row["account_id"]] = row["n"]

    for pk, summary in summaries.items():
        rate = _ratio(cancelled[pk], orders[pk])
        summary.rate = RateInfo(
            rate=rate, rate_after=rate, threshold=rate_threshold(summary.account.marketplace),
            orders=orders[pk], cancelled_orders=cancelled[pk], cancelled_orders_after=cancelled[pk],
        )
    return list(summaries.values())


def _count_by_account(queryset, aggregate):
    return queryset.values("account_id").annotate(n=aggregate).order_by()
