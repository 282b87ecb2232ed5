"""The body of a cancellation request: strict parsing, and DRF errors turned into the API's error list.

Strict on purpose: a quantity of ``"2"``, ``1.5`` or ``true`` is refused rather than coerced, and an unknown
key is refused rather than ignored (a misspelt ``quantity`` would otherwise mean "every remaining unit").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.settings import api_settings

from ..services import LineError, LineRequest
from ..services.cancellation_request import MAX_LINES_PER_REQUEST

_NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY
MAX_ID = 2**63 - 1  # the database's BIGINT: a larger id matches nothing and must not reach a query
MAX_QUANTITY = 2**31 - 1


class StrictIntegerField(serializers.IntegerField):
    """An integer that must be a JSON integer: no strings, floats or booleans."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class _NoUnknownKeys:
    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return super().to_internal_value(data)


class LineInputSerializer(_NoUnknownKeys, serializers.Serializer):
    line = StrictIntegerField(min_value=1, max_value=MAX_ID, help_text="Order line id.")
    quantity = StrictIntegerField(
        min_value=1, max_value=MAX_QUANTITY, required=False, allow_null=True,
        help_text="Units to cancel; omitted or null: every unit still cancellable.",
    )
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=100,
        help_text="Overrides the request's reason for this line.",
    )


class CancellationInputSerializer(_NoUnknownKeys, serializers.Serializer):
    lines = LineInputSerializer(many=True, allow_empty=False, max_length=MAX_LINES_PER_REQUEST)
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=100,
        help_text="A normalised reason (customer_request, out_of_stock, ...) or the marketplace's own code.",
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    accept_other_lines = serializers.BooleanField(
        required=False, default=False,
        help_text="When refusing lines not accepted yet (a marketplace that wants a decision on every waiting line "
                  "of an order), accept the order's other waiting lines in the same call. Only where the account "
                  "allows partial acceptance.",
    )


class OrderCancelInputSerializer(CancellationInputSerializer):
    lines = LineInputSerializer(
        many=True, required=False, allow_empty=False, max_length=MAX_LINES_PER_REQUEST,
        help_text="Lines of this order; omitted: every line that can still be cancelled, in full.",
    )


def line_requests(items: list[Mapping[str, Any]]) -> list[LineRequest]:
    return [LineRequest(line_id=i["line"], quantity=i.get("quantity"), reason=i.get("reason") or None)
            for i in items]


def _messages(detail: Any) -> list[str]:
    if isinstance(detail, list | tuple):
        return [m for d in detail for m in _messages(d)]
    if isinstance(detail, Mapping):
        return [m for d in detail.values() for m in _messages(d)]
    return [str(detail)]


def _line_id_at(data: Any, index: int) -> int | None:
    try:
        line = data["lines"][index]["line"]
    except (KeyError, IndexError, TypeError):
        return None
    return line if isinstance(line, int) and not isinstance(line, bool) else None


def _item_errors(detail: Any) -> list[tuple[int, Mapping]] | None:
    """Per-item errors of a list field, as (index, errors); None for errors about the list itself.

    DRF reports them as a list with one entry per item or, in recent versions, a dict keyed by index.
    """
    if isinstance(detail, Mapping) and detail and all(isinstance(k, int) for k in detail):
        return sorted(detail.items())
    if isinstance(detail, list) and detail and all(isinstance(d, Mapping) for d in detail):
        return list(enumerate(detail))
    return None


def input_errors(errors: Mapping[str, Any], data: Any) -> list[LineError]:
    """Flatten a serializer's nested errors into LineErrors naming the line (when known) and the field."""
    found: list[LineError] = []
    for name, detail in errors.items():
        items = _item_errors(detail) if name == "lines" else None
        if items is not None:
            for index, item in items:
                for field, messages in item.items():
                    line = _line_id_at(data, index)
                    found += [LineError(line, "line" if field == _NON_FIELD else field, m)
                              for m in _messages(messages)]
        else:
            found += [LineError(None, "body" if name == _NON_FIELD else name, m) for m in _messages(detail)]
    return found
