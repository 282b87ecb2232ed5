"""Money: the value types and the one JSON codec for stored amounts. A leaf: no Django, no HTTP.

Amounts are ``Decimal`` (2 places, half up), never float. Everything that stores taxes or fees as JSON
(order lines, cancellations, the marketplace's own cancellations) writes and reads them here, in one shape:
a list of ``{"code", "amount"}`` with the amount as exact text, plus ``"rate"`` and ``"rule"`` for a line's
own taxes. Totals already cancelled per code (``OrderLine.cancelled_*``) are ``{code: amount text}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def money(value: Decimal | int | str) -> Decimal:
    """A money value quantized to 2 places, half up (strings and ints welcome, floats refused)."""
    if isinstance(value, float):
        raise TypeError("money values must be Decimal, int or str, never float")
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def _exact(value: Any) -> Decimal:
    """A stored amount (text or JSON number) as the exact Decimal it was written as."""
    return Decimal(str(value)) if value not in (None, "") else ZERO


@dataclass(frozen=True)
class TaxAmount:
    """An amount of one tax or fee (by its marketplace code): what a cancellation takes or sends."""

    code: str
    amount: Decimal


@dataclass(frozen=True)
class LineTax:
    """A tax or fee on a whole order line, as the marketplace reports it."""

    code: str
    amount: Decimal
    rate: Decimal | None = None
    rule: str = ""  # Mirakl-style tax_calculation_rule: PROPORTIONAL_TO_AMOUNT | NONE


# --- the JSON codec ---------------------------------------------------------------------------------------


def parts_to_json(parts: Iterable[TaxAmount | LineTax]) -> list[dict[str, str]]:
    """Taxes or fees as stored: amounts as exact text; a line's own taxes keep their rate and rule."""
    stored = []
    for part in parts:
        item = {"code": part.code, "amount": str(part.amount)}
        if isinstance(part, LineTax):
            item |= {"rate": str(part.rate) if part.rate is not None else "", "rule": part.rule}
        stored.append(item)
    return stored


def parts_from_json(items: Iterable[Mapping[str, Any]]) -> tuple[TaxAmount, ...]:
    return tuple(TaxAmount(code=str(t["code"]), amount=_exact(t["amount"])) for t in items)


def line_parts_from_json(items: Iterable[Mapping[str, Any]]) -> tuple[LineTax, ...]:
    return tuple(
        LineTax(code=str(t["code"]), amount=_exact(t["amount"]),
                rate=_exact(t["rate"]) if t.get("rate") not in (None, "") else None, rule=str(t.get("rule") or ""))
        for t in items
    )


def totals_to_json(totals: Mapping[str, Decimal]) -> dict[str, str]:
    return {code: str(money(amount)) for code, amount in totals.items()}


def totals_from_json(stored: Mapping[str, Any]) -> dict[str, Decimal]:
    return {str(code): _exact(amount) for code, amount in (stored or {}).items()}
