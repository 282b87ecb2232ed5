"""Between stored rows (JSON tax lists, ``cancelled_*`` columns) and the pricing types, in one place."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from .. import pricing
from ..marketplaces.base import TaxAmount
from ..models import OrderLine

CANCELLED_FIELDS = ["cancelled_quantity", "cancelled_amount", "cancelled_shipping_amount", "cancelled_taxes",
                    "cancelled_shipping_taxes", "cancelled_fees"]


def taxes_from_json(items: Iterable[Mapping[str, Any]]) -> tuple[TaxAmount, ...]:
    return tuple(TaxAmount(code=t["code"], amount=Decimal(str(t["amount"]))) for t in items)


def tax_json(taxes: Iterable[TaxAmount]) -> list[dict]:
    return [{"code": t.code, "amount": str(t.amount)} for t in taxes]


def amounts_from_stored(amount: Decimal, shipping_amount: Decimal, taxes: Iterable[Mapping[str, Any]],
                        shipping_taxes: Iterable[Mapping[str, Any]],
                        fees: Iterable[Mapping[str, Any]] = ()) -> pricing.CancelAmounts:
    """A cancellation's amounts from its stored fields (tax and fee lists as stored JSON)."""
    return pricing.CancelAmounts(amount=Decimal(str(amount)), shipping_amount=Decimal(str(shipping_amount)),
                                 taxes=taxes_from_json(taxes), shipping_taxes=taxes_from_json(shipping_taxes),
                                 fees=taxes_from_json(fees))


def line_cancelled(line: OrderLine) -> pricing.AlreadyCancelled:
    """What the line records as cancelled on the marketplace."""
    return pricing.AlreadyCancelled(
        quantity=line.cancelled_quantity, amount=line.cancelled_amount,
        shipping_amount=line.cancelled_shipping_amount, taxes=dict(line.cancelled_taxes),
        shipping_taxes=dict(line.cancelled_shipping_taxes), fees=dict(line.cancelled_fees),
    )


def cancelled_fields(total: pricing.AlreadyCancelled, *, line_quantity: int) -> dict[str, Any]:
    """``OrderLine`` column values for ``total`` (taxes stored as exact strings)."""
    return {
        "cancelled_quantity": min(total.quantity, line_quantity),
        "cancelled_amount": pricing.money(total.amount),
        "cancelled_shipping_amount": pricing.money(total.shipping_amount),
        "cancelled_taxes": {code: str(pricing.money(v)) for code, v in total.taxes.items()},
        "cancelled_shipping_taxes": {code: str(pricing.money(v)) for code, v in total.shipping_taxes.items()},
        "cancelled_fees": {code: str(pricing.money(v)) for code, v in total.fees.items()},
    }
