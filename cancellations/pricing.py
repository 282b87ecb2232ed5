"""Mirakl cancellation amounts: what to send in OR30 for ``quantity`` units of an order line.

Pure functions over ``Decimal`` (2 places, ROUND_HALF_UP); no ORM, no HTTP.

Mirakl moves money by amount, not by quantity: an OR30 cancellation carries the item amount, the shipping
amount and each tax to cancel. Mirakl publishes no pro-rata formula, so we use the obvious one and make
it exact over a whole line:

* a partial cancellation takes ``round_half_up(line_total * quantity / line.quantity)`` of every money
  part of the line (item price, shipping, each tax, each shipping tax), capped at what is left of it;
* fees (Mirakl's line ``fees[]``: card fees, deposits, environmental handling) are parts like the taxes:
  cancelled with the line, pro rata, and sent in OR30's ``fees[]``;
* the cancellation that takes every remaining unit takes exactly what is left of every part, so the
  cancellations of a line always add up to the line's totals to the cent (10.00 over 3 units cancelled
  one by one gives 3.33 + 3.33 + 3.34).

Tax mode (TAX_EXCLUDED / TAX_INCLUDED) does not change the arithmetic: the inputs are the line's own
fields as OR11 reported them in the order's tax mode, and the outputs are sent back in that same mode.
In TAX_INCLUDED the item and shipping amounts already contain the taxes, which are listed for the
breakdown only; see ``CancelAmounts.total_in``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from .money import ZERO, LineTax, TaxAmount, money, parts_to_json


@dataclass(frozen=True)
class LineMoney:
    """The money of one order line. ``price`` is the item price of all units, shipping excluded.

    Each tax is on the whole line (all units). Its ``rule`` (Mirakl's ``tax_calculation_rule``) is kept for
    display: every tax is computed and sent whatever its rule, so ``NONE`` taxes are never forgotten.
    """

    quantity: int
    price: Decimal
    shipping_price: Decimal
    taxes: tuple[LineTax, ...] = ()
    shipping_taxes: tuple[LineTax, ...] = ()
    fees: tuple[LineTax, ...] = ()


@dataclass(frozen=True)
class AlreadyCancelled:
    """What is already taken from the line: confirmed cancellations plus those still in flight."""

    quantity: int = 0
    amount: Decimal = ZERO
    shipping_amount: Decimal = ZERO
    taxes: Mapping[str, Decimal] = field(default_factory=dict)
    shipping_taxes: Mapping[str, Decimal] = field(default_factory=dict)
    fees: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class CancelAmounts:
    """The amounts of one cancellation, as OR30 wants them."""

    amount: Decimal
    shipping_amount: Decimal
    taxes: tuple[TaxAmount, ...] = ()
    shipping_taxes: tuple[TaxAmount, ...] = ()
    fees: tuple[TaxAmount, ...] = ()

    @property
    def tax_total(self) -> Decimal:
        return sum((t.amount for t in self.taxes + self.shipping_taxes), ZERO)

    @property
    def fee_total(self) -> Decimal:
        return sum((f.amount for f in self.fees), ZERO)

    @property
    def total(self) -> Decimal:
        """Every part added up: what the customer gets back in TAX_EXCLUDED mode."""
        return self.amount + self.shipping_amount + self.tax_total + self.fee_total

    def total_in(self, tax_mode: str) -> Decimal:
        """What the customer gets back in ``tax_mode`` (in TAX_INCLUDED the amounts already hold the tax)."""
        if tax_mode == "TAX_INCLUDED":
            return self.amount + self.shipping_amount + self.fee_total
        return self.total

    def as_dict(self) -> dict:
        """JSON-ready form with amounts as strings (exact, no float)."""
        return {
            "amount": str(self.amount),
            "shipping_amount": str(self.shipping_amount),
            "taxes": parts_to_json(self.taxes),
            "shipping_taxes": parts_to_json(self.shipping_taxes),
            "fees": parts_to_json(self.fees),
            "total": str(self.total),
        }


def _tax_totals(taxes: Iterable[LineTax]) -> dict[str, Decimal]:
    """Line taxes by code, in order of first appearance (two entries with one code are added up)."""
    totals: dict[str, Decimal] = {}
    for tax in taxes:
        totals[tax.code] = totals.get(tax.code, ZERO) + money(tax.amount)
    return totals


def _share(total: Decimal, taken: Decimal, quantity: int, line_quantity: int, *, takes_rest: bool) -> Decimal:
    """This cancellation's part of ``total`` when ``taken`` of it is already gone."""
    remaining = max(money(total) - money(taken), ZERO)
    if takes_rest:
        return remaining
    prorata = money(money(total) * quantity / line_quantity)
    return min(max(prorata, ZERO), remaining)


def cancellation_amounts(line: LineMoney, already: AlreadyCancelled, quantity: int) -> CancelAmounts:
    """Amounts to cancel ``quantity`` more units of ``line`` (see the module docstring for the rules).

    Raises ``ValueError`` when ``quantity`` is not between 1 and the units still cancellable.
    """
    if line.quantity <= 0:
        raise ValueError(f"The line has no units to cancel (quantity {line.quantity}).")
    remaining_units = line.quantity - already.quantity
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise ValueError(f"Quantity must be a whole number, got {quantity!r}.")
    if remaining_units <= 0:
        raise ValueError(
            f"Nothing left to cancel: all {line.quantity} units are cancelled or being cancelled."
        )
    if not 1 <= quantity <= remaining_units:
        raise ValueError(
            f"Quantity must be between 1 and {remaining_units} (line of {line.quantity}, "
            f"{already.quantity} already cancelled or being cancelled), got {quantity}."
        )
    takes_rest = quantity == remaining_units

    def share(total: Decimal, taken: Decimal) -> Decimal:
        return _share(total, taken, quantity, line.quantity, takes_rest=takes_rest)

    return CancelAmounts(
        amount=share(line.price, already.amount),
        shipping_amount=share(line.shipping_price, already.shipping_amount),
        taxes=tuple(
            TaxAmount(code=code, amount=share(total, already.taxes.get(code, ZERO)))
            for code, total in _tax_totals(line.taxes).items()
        ),
        shipping_taxes=tuple(
            TaxAmount(code=code, amount=share(total, already.shipping_taxes.get(code, ZERO)))
            for code, total in _tax_totals(line.shipping_taxes).items()
        ),
        fees=tuple(
            TaxAmount(code=code, amount=share(total, already.fees.get(code, ZERO)))
            for code, total in _tax_totals(line.fees).items()
        ),
    )


def _add_taxes(taken: Mapping[str, Decimal], added: Iterable[TaxAmount]) -> dict[str, Decimal]:
    result = {code: money(amount) for code, amount in taken.items()}
    for tax in added:
        result[tax.code] = result.get(tax.code, ZERO) + tax.amount
    return result


def amounts_add(a: AlreadyCancelled, c: CancelAmounts, quantity: int) -> AlreadyCancelled:
    """``a`` plus one more cancellation of ``quantity`` units with amounts ``c``."""
    return AlreadyCancelled(
        quantity=a.quantity + quantity,
        amount=money(a.amount) + c.amount,
        shipping_amount=money(a.shipping_amount) + c.shipping_amount,
        taxes=_add_taxes(a.taxes, c.taxes),
        shipping_taxes=_add_taxes(a.shipping_taxes, c.shipping_taxes),
        fees=_add_taxes(a.fees, c.fees),
    )
