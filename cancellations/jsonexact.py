"""JSON text whose numbers are written from ``Decimal`` digit for digit, never through a binary float.

Shared by the Mirakl backend (OR30 bodies) and the marketplace sandboxes (answers carrying amounts as
JSON numbers), so an amount such as ``1299.99`` or ``0.30`` reaches the wire exactly as it was computed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any


def json_dumps_exact(value: Any) -> str:
    """JSON text where ``Decimal`` values become numbers written with their own digits.

    Floats are refused (``TypeError``): an amount that has been a float may already be off by a fraction.
    Non-finite Decimals are refused (``ValueError``): JSON has no number for them.
    """
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite amount: {value}")
        return format(value, "f")
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {json_dumps_exact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(json_dumps_exact(v) for v in value) + "]"
    if isinstance(value, float):
        raise TypeError("floats are not written as JSON numbers here; use Decimal")
    return json.dumps(value)
