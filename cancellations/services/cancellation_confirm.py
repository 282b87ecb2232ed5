"""Recording that the marketplace applied cancellations: line quantities, amounts and inventory follow-up."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils import timezone

from .. import pricing
from ..marketplaces.base import LineResult
from ..marketplaces.registry import spec_for
from ..models import Cancellation, CancellationStatus, InventoryAdjustment, OrderLine
from .events import inventory_adjustments_created
from .history import cancellations_transition
from .line_money import CANCELLED_FIELDS, amounts_from_stored, cancelled_fields, line_cancelled
from .rows import relations_load, rows_save


def cancellations_confirm(pairs: Sequence[tuple[Cancellation, LineResult | None]], *, message: str = "") -> None:
    """Mark cancellations confirmed and bring their lines up to date. Runs in the caller's transaction."""
    if not pairs:
        return
    relations_load([c for c, _ in pairs], "account")
    lines = {line.pk: line for line in OrderLine.objects.select_for_update().defer("raw").filter(
        pk__in={c.line_id for c, _ in pairs})}
    for c, result in pairs:
        line = lines[c.line_id]
        reference = (result.marketplace_reference if result else "") or c.marketplace_reference
        if result is not None and result.line_status:
            line.status = result.line_status
        if line.open_quantity is not None:
            line.open_quantity = max(line.open_quantity - c.quantity, 0)
        if result is not None and result.cancelled_quantity is not None:
            line.cancelled_quantity = min(result.cancelled_quantity, line.quantity)
        elif not reference or reference not in {str(e.get("id")) for e in line.marketplace_cancellations}:
            # Not yet seen by a sync: count it (a later sync replaces these with the marketplace's figures).
            amounts = amounts_from_stored(c.amount, c.shipping_amount, c.taxes, c.shipping_taxes, c.fees)
            total = pricing.amounts_add(line_cancelled(line), amounts, c.quantity)
            for name, value in cancelled_fields(total, line_quantity=line.quantity).items():
                setattr(line, name, value)
            if reference:
                line.marketplace_cancellations = [*line.marketplace_cancellations, {
                    "id": reference, "quantity": c.quantity, "amount": str(c.amount),
                    "shipping_amount": str(c.shipping_amount), "taxes": c.taxes, "shipping_taxes": c.shipping_taxes,
                    "fees": c.fees,
                }]
        c.marketplace_reference = reference
        if not (result is not None and result.line_status) and line.cancelled_quantity >= line.quantity:
            # Every unit is cancelled: show the status the marketplace now reports, not the last sync's.
            line.status = spec_for(c.account.marketplace).cancelled_line_status or line.status
    rows_save(OrderLine, lines.values(), ["status", "open_quantity", *CANCELLED_FIELDS, "marketplace_cancellations"])
    cancellations_transition(
        [c for c, _ in pairs], CancellationStatus.CONFIRMED, message=message or "Confirmed by the marketplace",
        confirmed_at=timezone.now(), marketplace_reference=lambda c: c.marketplace_reference, error_code="",
        error_message="", next_attempt_at=None,
    )
    adjustments = InventoryAdjustment.objects.bulk_create(
        InventoryAdjustment(account=c.account, cancellation=c, sku=lines[c.line_id].sku, quantity=c.quantity,
                            restock=c.restock)
        for c, _ in pairs
    )
    inventory_adjustments_created(adjustments)
