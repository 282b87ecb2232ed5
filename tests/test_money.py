"""The money module: exact value types and the one JSON codec for stored taxes and fees; a leaf module."""

from __future__ import annotations

import ast
from decimal import Decimal
from pathlib import Path

import pytest

from cancellations import money
from cancellations.money import LineTax, TaxAmount

D = Decimal


def test_parts_round_trip_exactly_and_line_taxes_keep_rate_and_rule():
    parts = (TaxAmount("GST", D("1.05")), TaxAmount("PST", D("0.10")))
    stored = money.parts_to_json(parts)
    assert stored == [{"code": "GST", "amount": "1.05"}, {"code": "PST", "amount": "0.10"}]
    assert money.parts_from_json(stored) == parts
    line = (LineTax("HST", D("13.00"), D("13"), "PROPORTIONAL_TO_AMOUNT"), LineTax("ECO", D("0.50")))
    stored = money.parts_to_json(line)
    assert stored[1] == {"code": "ECO", "amount": "0.50", "rate": "", "rule": ""}
    assert money.line_parts_from_json(stored) == line


def test_totals_are_stored_to_the_cent_and_read_back_as_decimals():
    stored = money.totals_to_json({"GST": D("1.005"), "PST": D("2")})
    assert stored == {"GST": "1.01", "PST": "2.00"}
    assert money.totals_from_json(stored) == {"GST": D("1.01"), "PST": D("2.00")}
    assert money.totals_from_json({"GST": 1.5}) == {"GST": D("1.5")}  # a JSON number, read exactly as written


def test_floats_are_refused():
    with pytest.raises(TypeError, match="never float"):
        money.money(0.1)


def test_money_is_a_leaf():
    tree = ast.parse(Path(money.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module and not node.level}
    assert imported <= {"__future__", "collections", "dataclasses", "decimal", "typing"}, imported
    assert not any(isinstance(node, ast.ImportFrom) and node.level for node in ast.walk(tree))
