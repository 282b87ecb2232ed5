"""Between stored rows (tax and fee lists, ``cancelled_*`` columns) and the pricing types, through ``money``'s
one JSON codec."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from .. import pricing
from ..models import OrderLine
from ..money import money, parts_from_json, totals_from_json, totals_to_json

CANCELLED_FIELDS = ["cancelled_quantity", "cancelled_amount", "cancelled_shipping_amount", "cancelled_taxes",
                    "cancelled_shipping_taxes", "cancelled_fees"]


def amounts_from_stored(amount: Decimal, shipping_amount: Decimal, taxes: Iterable[Mapping[str, Any]],
                        shipping_taxes: Iterable[Mapping[str, Any]],
                        fees: Iterable[Mapping[str, Any]] = ()) -> pricing.CancelAmounts:
    """A cancellation's amounts from its stored fields (tax and fee lists as stored JSON)."""
    return pricing.CancelAmounts(amount=Decimal(str(amount)), shipping_amount=Decimal(str(shipping_amount)),
                                 taxes=parts_from_json(taxes), shipping_taxes=parts_from_json(shipping_taxes),
                                 fees=parts_from_json(fees))


def line_cancelled(line: OrderLine) -> pricing.AlreadyCancelled:
    """What the line records as cancelled on the marketplace."""
    return pricing.AlreadyCancelled(
        quantity=line.cancelled_quantity, amount=line.cancelled_amount,
        shipping_amount=line.cancelled_shipping_amount, taxes=totals_from_json(line.cancelled_taxes),
        shipping_taxes=totals_from_json(line.cancelled_shipping_taxes), fees=totals_from_json(line.cancelled_fees),
    )


def cancelled_fields(total: pricing.AlreadyCancelled, *, line_quantity: int) -> dict[str, Any]:
    """``OrderLine`` column values for ``total`` (taxes stored as exact strings)."""
    return {
        "cancelled_quantity": min(total.quantity, line_quantity),
        "cancelled_amount": money(total.amount),
        "cancelled_shipping_amount": money(total.shipping_amount),
        "cancelled_taxes": totals_to_json(total.taxes),
        "cancelled_shipping_taxes": totals_to_json(total.shipping_taxes),
        "cancelled_fees": totals_to_json(total.fees),
    }
