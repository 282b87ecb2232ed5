"""Read-only figures for the operations dashboard and the cancel confirmation page.

Every function runs a fixed number of queries, whatever the number of accounts, orders or cancellations:
counts are grouped in the database, never gathered row by row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from ..marketplaces.registry import spec_for
from ..models import (
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


# Settled badly, or an outcome only a person can settle (``needs_attention``: ambiguous, never resent alone).
ATTENTION_STATUSES = (CancellationStatus.FAILED, CancellationStatus.REJECTED, CancellationStatus.NEEDS_ATTENTION)
WAITING_TOO_LONG = timedelta(hours=1)
WAITING_STATUSES = (CancellationStatus.PENDING, CancellationStatus.SENDING, CancellationStatus.RETRY_SCHEDULED)


def needs_attention_q(now: datetime | None = None) -> Q:
    """Failed, rejected or ambiguous; verifying for more than 15 minutes; or still waiting to be sent after an
    hour (the dashboard's queue, the admin filter and the API's ``needs_attention`` use it)."""
    now = now or timezone.now()
    return (Q(status__in=ATTENTION_STATUSES)
            | Q(status=CancellationStatus.VERIFYING, updated_at__lt=now - VERIFYING_STALE_AFTER)
            | Q(status__in=WAITING_STATUSES, created_at__lt=now - WAITING_TOO_LONG))


@dataclass
class AttentionItem:
    cancellation: Cancellation
    why: str
    note: str
    taken_by: str


def attention_queue(*, limit: int = 50, now: datetime | None = None) -> list[AttentionItem]:
    """The oldest cancellations that need a person, each with why, its note and who took it (one query)."""
    now = now or timezone.now()
    rows = (Cancellation.objects.filter(needs_attention_q(now))
            .select_related("account", "line__order", "attention_note__taken_by").order_by("created_at", "id")[:limit])
    items = []
    for c in rows:
        if c.status in ATTENTION_STATUSES:
            why = f"{c.get_status_display()}: {c.error_message or c.error_code or 'no message'}"
        else:
            waited = now - (c.updated_at if c.status == CancellationStatus.VERIFYING else c.created_at)
            why = f"{c.get_status_display()} for {_duration(waited)}"
        note = getattr(c, "attention_note", None)
        items.append(AttentionItem(cancellation=c, why=why, note=note.note if note else "",
                                   taken_by=str(note.taken_by) if note and note.taken_by else ""))
    return items


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


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
        return self.rate >= self.threshold  # the rate must stay *under* the threshold

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
    trend: RateTrend | None = None  # set by the dashboard panel (rate_trends)

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


TREND_DAYS = 90
TREND_STEP = 3  # a point every 3 days: 31 points


@dataclass
class RateTrend:
    """The rolling 30-day cancellation rate, one point every few days over the last 90 days."""

    points: list[tuple[date, Decimal]]
    threshold: Decimal

    @property
    def peak(self) -> Decimal:
        return max((rate for _, rate in self.points), default=Decimal(0))


def rate_trends(*, now: datetime | None = None) -> dict[int, RateTrend]:
    """Per account, the 30-day rate as it stood every ``TREND_STEP`` days over ``TREND_DAYS``, counted by
    day in the database (two queries; memory grows with days and cancelled orders, not with orders)."""
    today = timezone.localdate(now or timezone.now())
    start = today - timedelta(days=TREND_DAYS) - RATE_WINDOW
    orders_by_day: dict[int, dict[date, int]] = defaultdict(dict)
    for row in (Order.objects.filter(ordered_at__date__gte=start).values("account_id", day=TruncDate("ordered_at"))
                .annotate(n=Count("id")).order_by()):
        orders_by_day[row["account_id"]][row["day"]] = row["n"]
    cancelled: dict[int, set[tuple[int, date]]] = defaultdict(set)
    for row in (Cancellation.objects.filter(created_at__date__gte=start, status__in=RATE_STATUSES)
                .values("account_id", "line__order_id", day=TruncDate("created_at")).distinct().order_by()):
        cancelled[row["account_id"]].add((row["line__order_id"], row["day"]))
    ends = [today - timedelta(days=d) for d in range(TREND_DAYS, -1, -TREND_STEP)]
    trends = {}
    for account in MarketplaceAccount.objects.all():
        days, hits = orders_by_day[account.pk], cancelled[account.pk]
        points = []
        for end in ends:
            begin = end - RATE_WINDOW
            orders = sum(n for day, n in days.items() if begin < day <= end)
            orders_hit = len({order_id for order_id, day in hits if begin < day <= end})
            points.append((end, _ratio(orders_hit, orders)))
        trends[account.pk] = RateTrend(points=points, threshold=rate_threshold(account.marketplace))
    return trends
