"""Inventory follow-up: pending adjustments out as CSV or JSON, per-SKU totals, and marking them exported.

Marketplaces ask sellers to report cancelled units in the next inventory feed; a seller restocks by SKU, so the
CSV carries each SKU's restock total beside every row, and the dashboard shows the same totals.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from rest_framework.fields import DateTimeField

from ..models import InventoryAdjustment

EXPORT_STATUSES = ("pending", "exported")
CSV_COLUMNS = ["account", "marketplace", "sku", "quantity", "restock", "cancellation", "order", "line", "created",
               "sku_restock_total"]


class UnknownAdjustments(ValueError):
    def __init__(self, ids: Sequence[int]):
        self.ids = list(ids)
        super().__init__(f"No inventory adjustment with id(s) {', '.join(map(str, self.ids))}.")


def inventory_adjustments_export_list(*, status: str = "", account: str = "") -> QuerySet[InventoryAdjustment]:
    """Adjustments oldest first, with what the CSV names (one query)."""
    qs = InventoryAdjustment.objects.select_related("account", "cancellation__line__order").order_by("created_at",
                                                                                                      "id")
    if status:
        qs = qs.filter(exported_at__isnull=status == "pending")
    if account:
        qs = qs.filter(account__name=account)
    return qs


def inventory_csv(adjustments: Iterable[InventoryAdjustment]) -> str:
    """One row per adjustment; ``sku_restock_total`` is the units of that SKU to restock across the file."""
    rows = list(adjustments)
    restock_by_sku: dict[str, int] = defaultdict(int)
    for a in rows:
        if a.restock:
            restock_by_sku[a.sku] += a.quantity
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    created = DateTimeField()
    for a in rows:
        line = a.cancellation.line
        writer.writerow([
            _cell(a.account.name), a.account.marketplace, _cell(a.sku), a.quantity, str(a.restock).lower(),
            a.cancellation_id, _cell(line.order.external_id), _cell(line.external_id),
            created.to_representation(a.created_at), restock_by_sku[a.sku],
        ])
    return out.getvalue()


def _cell(value: str) -> str:
    """Marketplace and user text never starts a spreadsheet formula."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def inventory_adjustments_mark_exported(*, ids: Sequence[int]) -> int:
    """Set ``exported_at`` on these (those already exported keep their date). Unknown ids: nothing changes."""
    wanted = set(ids)
    known = set(InventoryAdjustment.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    if wanted - known:
        raise UnknownAdjustments(sorted(wanted - known))
    return InventoryAdjustment.objects.filter(pk__in=wanted, exported_at__isnull=True).update(
        exported_at=timezone.now())


@dataclass(frozen=True)
class SkuTotal:
    sku: str
    restock: int  # units to put back in stock
    not_restocked: int  # cancelled units that do not go back (out of stock, ...)
    adjustments: int
    accounts: int


def pending_sku_totals(*, limit: int = 50) -> list[SkuTotal]:
    """Pending adjustments summed per SKU across accounts, most units to restock first (one query)."""
    rows = (InventoryAdjustment.objects.filter(exported_at__isnull=True).values("sku")
            .annotate(restock_units=Coalesce(Sum("quantity", filter=Q(restock=True)), 0),
                      other_units=Coalesce(Sum("quantity", filter=Q(restock=False)), 0),
                      n=Count("id"), accounts=Count("account_id", distinct=True))
            .order_by("-restock_units", "sku")[:limit])
    return [SkuTotal(sku=r["sku"], restock=r["restock_units"], not_restocked=r["other_units"], adjustments=r["n"],
                     accounts=r["accounts"]) for r in rows]
