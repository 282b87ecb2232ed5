"""Order sync: upsert the marketplace's orders and lines page by page, and refresh its reasons.

Idempotent (a second run with nothing new changes nothing) and bounded: each page costs a fixed number of
queries whatever its number of lines, and only one page is held in memory at a time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from .. import pricing
from ..marketplaces.base import (
    AccountError,
    MarketplaceError,
    MarketplaceOrder,
    MarketplaceOrderLine,
)
from ..marketplaces.registry import get_backend
from ..models import MarketplaceAccount, Order, OrderLine
from ..money import TaxAmount, parts_to_json
from ..pacing import account_throttled
from .account_connection import account_next_step
from .call_recording import CallRecorder
from .drift import marketplace_cancellations_record
from .enqueue import orders_sync_enqueue_on_commit
from .events import account_error_record
from .line_money import CANCELLED_FIELDS, cancelled_fields
from .reasons import reasons_refresh

DEFAULT_LOOKBACK = timedelta(days=30)  # first sync; and every sync where lists filter on creation date
OVERLAP = timedelta(minutes=10)  # re-read a little before the last sync so nothing slips between runs

ORDER_FIELDS = ["customer_order_id", "status", "currency", "ordered_at", "tax_mode", "raw"]
LINE_FIELDS = ["sku", "title", "quantity", "unit_price", "price", "shipping_price", "taxes", "shipping_taxes",
               "fees", "status", "open_quantity", *CANCELLED_FIELDS, "marketplace_cancellations", "raw"]


@dataclass
class SyncReport:
    account: str
    pages: int = 0
    orders_created: int = 0
    orders_updated: int = 0
    lines_created: int = 0
    lines_updated: int = 0
    reasons: int = 0
    marketplace_cancellations: int = 0  # made outside this product, found by this sync (drift)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _as_stored(payload) -> dict:
    """The payload as the JSON column gives it back (Decimals and dates as text), so equal means unchanged."""
    return json.loads(json.dumps(dict(payload), cls=DjangoJSONEncoder))


def _line_values(ml: MarketplaceOrderLine) -> dict:
    total = pricing.AlreadyCancelled()
    for e in ml.cancellations:
        amounts = pricing.CancelAmounts(e.amount, e.shipping_amount, e.taxes, e.shipping_taxes, e.fees)
        total = pricing.amounts_add(total, amounts, e.quantity)
    return {
        "sku": ml.sku, "title": ml.title[:300], "quantity": ml.quantity, "unit_price": ml.unit_price,
        "price": ml.price, "shipping_price": ml.shipping_price, "taxes": parts_to_json(ml.taxes),
        "shipping_taxes": parts_to_json(ml.shipping_taxes),
        "fees": parts_to_json(TaxAmount(f.code, f.amount) for f in ml.fees),  # stored as amounts, like a cancel's
        "status": ml.status, "open_quantity": ml.open_quantity,
        **cancelled_fields(total, line_quantity=ml.quantity),
        # A marketplace that reports units, not amounts: its cancelled quantity is the line's own figure.
        "cancelled_quantity": min(ml.cancelled_quantity, ml.quantity),
        "marketplace_cancellations": [
            {"id": e.id, "quantity": e.quantity, "amount": str(e.amount), "shipping_amount": str(e.shipping_amount),
             "taxes": parts_to_json(e.taxes), "shipping_taxes": parts_to_json(e.shipping_taxes)}
            for e in ml.cancellations
        ],
        "raw": _as_stored(ml.raw),
    }


def _order_values(mo: MarketplaceOrder) -> dict:
    return {"customer_order_id": mo.customer_order_id, "status": mo.status, "currency": mo.currency or "CAD",
            "ordered_at": mo.ordered_at, "tax_mode": mo.tax_mode or "TAX_EXCLUDED", "raw": _as_stored(mo.raw)}


def _changed(obj, values: dict) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


@transaction.atomic
def orders_page_upsert(*, account: MarketplaceAccount, page: list[MarketplaceOrder], report: SyncReport) -> None:
    """Upsert one page of orders and their lines in a fixed number of queries."""
    now = timezone.now()
    existing = {o.external_id: o for o in Order.objects.filter(account=account,
                                                               external_id__in=[mo.external_id for mo in page])}
    new_orders, changed_orders = [], []
    for mo in page:
        values = _order_values(mo)
        order = existing.get(mo.external_id)
        if order is None:
            order = Order(account=account, external_id=mo.external_id, synced_at=now, **values)
            new_orders.append(order)
            existing[mo.external_id] = order
        elif _changed(order, values):
            order.synced_at = now
            changed_orders.append(order)
    Order.objects.bulk_create(new_orders)  # PostgreSQL and SQLite return the new primary keys
    Order.objects.bulk_update(changed_orders, [*ORDER_FIELDS, "synced_at"])

    Order.objects.filter(pk__in=[o.pk for o in existing.values()]).update(read_at=now)

    lines = {(line.order_id, line.external_id): line
             for line in OrderLine.objects.filter(order__in=[existing[mo.external_id] for mo in page])}
    new_lines, changed_lines, read = [], [], []
    for mo in page:
        order = existing[mo.external_id]
        for ml in mo.lines:
            values = _line_values(ml)
            line = lines.get((order.pk, ml.external_id))
            if line is None:
                line = OrderLine(order=order, external_id=ml.external_id, **values)
                new_lines.append(line)
            elif _changed(line, values):
                changed_lines.append(line)
            line.order = order
            read.append((line, ml))
    OrderLine.objects.bulk_create(new_lines)
    OrderLine.objects.bulk_update(changed_lines, LINE_FIELDS)
    report.marketplace_cancellations += len(marketplace_cancellations_record(read))
    report.orders_created += len(new_orders)
    report.orders_updated += len(changed_orders)
    report.lines_created += len(new_lines)
    report.lines_updated += len(changed_lines)


def orders_sync(*, account: MarketplaceAccount, since: datetime | None = None) -> SyncReport:
    """Bring the account's orders and reasons up to date from the marketplace.

    Any marketplace error (5xx, 401, timeout, a refused destination) is recorded on the account, where the
    admin and the API show it, and raised to the caller.
    """
    started = timezone.now()
    report = SyncReport(account=account.name)
    try:
        with get_backend(account, on_exchange=CallRecorder(account=account).record) as backend:
            if since is None:
                incremental = account.last_synced_at and backend.lists_by_update_time
                since = account.last_synced_at - OVERLAP if incremental else started - DEFAULT_LOOKBACK
            report.reasons = reasons_refresh(account=account, reasons=backend.list_reasons())
            for page in backend.iter_order_pages(since):
                report.pages += 1
                orders_page_upsert(account=account, page=page, report=report)
    except MarketplaceError as exc:
        if exc.throttled:
            account_throttled(account.pk, retry_after=exc.retry_after)  # the account's sends wait too
        error = f"Sync failed: {exc.summary()}"
        if isinstance(exc, AccountError):
            error += f". {account_next_step(account, exc)}"
            account_error_record(account_id=account.pk, error=error)  # with its event and alert
        else:
            MarketplaceAccount.objects.filter(pk=account.pk).update(last_error=error)
        account.last_error = error
        raise
    MarketplaceAccount.objects.filter(pk=account.pk).update(last_synced_at=started, last_error="")
    account.last_synced_at, account.last_error = started, ""
    return report


def orders_sync_request(*, account: MarketplaceAccount, user=None, since: datetime | None = None) -> None:
    """Ask for a sync of ``account`` in the background (runs inline in the embedded default)."""
    orders_sync_enqueue_on_commit(account.pk, since.isoformat() if since else None)
