"""Mirakl cancellation amounts: pro-rata with the remainder on the last units, exact to the cent."""

from __future__ import annotations

import itertools
import random
from decimal import Decimal

import pytest

from cancellations.money import LineTax, TaxAmount, money
from cancellations.pricing import (
    AlreadyCancelled,
    CancelAmounts,
    LineMoney,
    amounts_add,
    cancellation_amounts,
)

D = Decimal


def line_of(quantity=3, price="10.00", shipping="0.00", taxes=(), shipping_taxes=()) -> LineMoney:
    return LineMoney(
        quantity=quantity, price=D(price), shipping_price=D(shipping),
        taxes=tuple(LineTax(code, D(amount), rule=rule) for code, amount, rule in taxes),
        shipping_taxes=tuple(LineTax(code, D(amount), rule=rule) for code, amount, rule in shipping_taxes),
    )


def cancel_in_steps(line: LineMoney, steps: list[int]) -> tuple[list[CancelAmounts], AlreadyCancelled]:
    already = AlreadyCancelled()
    results = []
    for quantity in steps:
        amounts = cancellation_amounts(line, already, quantity)
        results.append(amounts)
        already = amounts_add(already, amounts, quantity)
    return results, already


def test_one_unit_at_a_time_gives_the_remainder_to_the_last():
    results, already = cancel_in_steps(line_of(quantity=3, price="10.00"), [1, 1, 1])
    assert [r.amount for r in results] == [D("3.33"), D("3.33"), D("3.34")]
    assert already.amount == D("10.00")
    assert already.quantity == 3


def test_partial_rounds_half_up():
    # 0.25 * 1 / 2 = 0.125 -> 0.13 (half up, not banker's 0.12)
    amounts = cancellation_amounts(line_of(quantity=2, price="0.25"), AlreadyCancelled(), 1)
    assert amounts.amount == D("0.13")
    # and the other half takes what is left
    already = amounts_add(AlreadyCancelled(), amounts, 1)
    rest = cancellation_amounts(line_of(quantity=2, price="0.25"), already, 1)
    assert rest.amount == D("0.12")


def test_every_part_is_prorated_shipping_and_taxes_included():
    line = line_of(
        quantity=4, price="11.24", shipping="3.99",
        taxes=[("GST", "0.56", "PROPORTIONAL_TO_AMOUNT"), ("PST", "0.79", "NONE")],
        shipping_taxes=[("GST", "0.20", "PROPORTIONAL_TO_AMOUNT")],
    )
    amounts = cancellation_amounts(line, AlreadyCancelled(), 1)
    assert amounts.amount == D("2.81")
    assert amounts.shipping_amount == D("1.00")  # 0.9975 -> 1.00
    assert amounts.taxes == (TaxAmount("GST", D("0.14")), TaxAmount("PST", D("0.20")))
    assert amounts.shipping_taxes == (TaxAmount("GST", D("0.05")),)
    assert amounts.total == D("2.81") + D("1.00") + D("0.14") + D("0.20") + D("0.05")


def test_whole_line_at_once_is_exactly_the_line():
    line = line_of(quantity=5, price="99.99", shipping="7.50", taxes=[("HST", "13.00", "NONE")])
    amounts = cancellation_amounts(line, AlreadyCancelled(), 5)
    assert (amounts.amount, amounts.shipping_amount) == (D("99.99"), D("7.50"))
    assert amounts.taxes == (TaxAmount("HST", D("13.00")),)


def test_rest_after_earlier_cancellations_is_line_minus_already():
    line = line_of(quantity=3, price="10.00", shipping="5.00", taxes=[("GST", "0.50", "")])
    already = AlreadyCancelled(
        quantity=1, amount=D("3.00"), shipping_amount=D("1.00"), taxes={"GST": D("0.10")}
    )
    amounts = cancellation_amounts(line, already, 2)
    assert (amounts.amount, amounts.shipping_amount) == (D("7.00"), D("4.00"))
    assert amounts.taxes == (TaxAmount("GST", D("0.40")),)


def test_partial_never_exceeds_what_remains():
    # Someone already took more than the pro-rata share: the partial is capped at the remainder.
    line = line_of(quantity=3, price="10.00")
    already = AlreadyCancelled(quantity=1, amount=D("9.00"))
    amounts = cancellation_amounts(line, already, 1)
    assert amounts.amount == D("1.00")


def test_never_negative_even_when_already_exceeds_the_line():
    line = line_of(quantity=3, price="10.00", shipping="1.00")
    already = AlreadyCancelled(quantity=1, amount=D("12.00"), shipping_amount=D("2.00"))
    amounts = cancellation_amounts(line, already, 2)
    assert amounts.amount == D("0.00")
    assert amounts.shipping_amount == D("0.00")


def test_duplicate_tax_codes_are_added_up():
    line = line_of(quantity=2, price="10.00", taxes=[("GST", "0.25", ""), ("GST", "0.25", "")])
    amounts = cancellation_amounts(line, AlreadyCancelled(), 2)
    assert amounts.taxes == (TaxAmount("GST", D("0.50")),)


def test_amounts_from_strings_are_accepted_in_already():
    # AlreadyCancelled is often built from JSON columns that hold strings.
    line = line_of(quantity=2, price="10.00", taxes=[("GST", "0.50", "")])
    already = AlreadyCancelled(quantity=1, amount="5.00", taxes={"GST": "0.25"})
    amounts = cancellation_amounts(line, already, 1)
    assert amounts.amount == D("5.00")
    assert amounts.taxes == (TaxAmount("GST", D("0.25")),)


@pytest.mark.parametrize(
    ("already_quantity", "quantity", "message"),
    [
        (0, 0, "between 1 and 3"),
        (0, 4, "between 1 and 3"),
        (1, 3, "between 1 and 2"),
        (0, -1, "between 1 and 3"),
        (3, 1, "Nothing left to cancel"),
    ],
)
def test_quantity_out_of_range_is_refused(already_quantity, quantity, message):
    with pytest.raises(ValueError, match=message):
        cancellation_amounts(line_of(quantity=3), AlreadyCancelled(quantity=already_quantity), quantity)


def test_non_integer_quantity_is_refused():
    with pytest.raises(ValueError, match="whole number"):
        cancellation_amounts(line_of(quantity=3), AlreadyCancelled(), True)
    with pytest.raises(ValueError, match="whole number"):
        cancellation_amounts(line_of(quantity=3), AlreadyCancelled(), 1.0)


def test_float_money_is_refused():
    with pytest.raises(TypeError):
        money(1.1)


def test_as_dict_uses_exact_strings():
    amounts = CancelAmounts(
        amount=D("3.33"), shipping_amount=D("0.00"), taxes=(TaxAmount("GST", D("0.17")),),
        shipping_taxes=(TaxAmount("GST", D("0.05")),),
    )
    assert amounts.as_dict() == {
        "amount": "3.33", "shipping_amount": "0.00", "taxes": [{"code": "GST", "amount": "0.17"}],
        "shipping_taxes": [{"code": "GST", "amount": "0.05"}], "fees": [], "total": "3.55",
    }


def test_fees_are_cancelled_pro_rata_and_the_last_units_take_exactly_the_rest():
    from cancellations.marketplaces.base import LineTax
    from cancellations.pricing import AlreadyCancelled, LineMoney, amounts_add, cancellation_amounts

    line = LineMoney(quantity=3, price=D("30.00"), shipping_price=D("0.00"),
                     fees=(LineTax("CARD_FEE", D("10.00")), LineTax("EHF", D("1.00"))))
    already = AlreadyCancelled()
    taken = []
    for _ in range(3):
        amounts = cancellation_amounts(line, already, 1)
        taken.append({f.code: f.amount for f in amounts.fees})
        already = amounts_add(already, amounts, 1)
    assert taken == [{"CARD_FEE": D("3.33"), "EHF": D("0.33")}, {"CARD_FEE": D("3.33"), "EHF": D("0.33")},
                     {"CARD_FEE": D("3.34"), "EHF": D("0.34")}]
    assert already.fees == {"CARD_FEE": D("10.00"), "EHF": D("1.00")}
    two = cancellation_amounts(line, AlreadyCancelled(), 2)
    assert two.total == D("20.00") + D("6.67") + D("0.67")  # fees count in what the customer gets back


def test_total_in_tax_included_mode_leaves_the_listed_taxes_out():
    amounts = CancelAmounts(
        amount=D("11.30"), shipping_amount=D("1.13"), taxes=(TaxAmount("HST", D("1.30")),)
    )
    assert amounts.total_in("TAX_INCLUDED") == D("12.43")
    assert amounts.total_in("TAX_EXCLUDED") == D("13.73")


def splits(total: int):
    """Every ordered way to split ``total`` units into positive parts (compositions)."""
    for cuts in itertools.product((False, True), repeat=total - 1):
        parts, size = [], 1
        for cut in cuts:
            if cut:
                parts.append(size)
                size = 1
            else:
                size += 1
        parts.append(size)
        yield parts


def test_property_every_split_adds_up_to_the_line_exactly():
    rng = random.Random(20250110)
    checked = 0
    for quantity in range(1, 8):
        for _ in range(12):
            cents = lambda: D(rng.randint(0, 50_000)) / 100  # noqa: E731
            line = LineMoney(
                quantity=quantity, price=cents(), shipping_price=cents(),
                taxes=(LineTax("GST", cents(), rule="PROPORTIONAL_TO_AMOUNT"), LineTax("PST", cents(), rule="NONE")),
                shipping_taxes=(LineTax("GST", cents(), rule="PROPORTIONAL_TO_AMOUNT"),),
            )
            for steps in splits(quantity):
                results, already = cancel_in_steps(line, steps)
                assert already.quantity == quantity
                assert already.amount == line.price
                assert already.shipping_amount == line.shipping_price
                assert already.taxes == {"GST": line.taxes[0].amount, "PST": line.taxes[1].amount}
                assert already.shipping_taxes == {"GST": line.shipping_taxes[0].amount}
                taken = D("0.00")
                for step, amounts in zip(steps[:-1], results, strict=False):
                    parts = [amounts.amount, amounts.shipping_amount, *(t.amount for t in amounts.taxes)]
                    assert all(p >= 0 and p == p.quantize(D("0.01")) for p in parts)
                    # a non-final share is the rounded pro-rata of its units, capped at what is left
                    assert amounts.amount == min(money(line.price * step / quantity), line.price - taken)
                    taken += amounts.amount
                checked += 1
    assert checked > 1000
