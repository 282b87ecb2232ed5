"""An in-process marketplace backend for workflow tests (like anymail's test backend).

Behaviour is scripted per test through ``FakeBackend.script``: a list of callables or exceptions consumed one
per ``cancel_lines`` call; the default confirms every line. Every call is remembered in ``FakeBackend.sent``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import count

from cancellations.marketplaces.base import (
    CancelResult,
    LineCancel,
    LineOutcome,
    LineResult,
    MarketplaceBackend,
    MarketplaceOrder,
    MarketplaceOrderLine,
)

_ids = count(1000)


class FakeBackend(MarketplaceBackend):
    marketplace = "fake"
    max_lines_per_cancel = 100
    per_order = False
    script: list = []
    sent: list[list[LineCancel]] = []
    remote_cancelled: dict[str, int] = {}  # line id -> units cancelled "on the marketplace"

    @classmethod
    def reset(cls, *, per_order: bool = False) -> None:
        cls.script, cls.sent, cls.remote_cancelled, cls.per_order = [], [], {}, per_order

    @classmethod
    def batch_key(cls, line: LineCancel) -> str:
        return line.order_id if cls.per_order else ""

    def cancel_lines(self, lines: Sequence[LineCancel]) -> CancelResult:
        FakeBackend.sent.append(list(lines))
        step = FakeBackend.script.pop(0) if FakeBackend.script else None
        if isinstance(step, Exception):
            if getattr(step, "applied", False):
                self._apply(lines)
            raise step
        if callable(step):
            return step(lines)
        return self.confirm_all(lines)

    @classmethod
    def confirm_all(cls, lines: Sequence[LineCancel]) -> CancelResult:
        """The default answer: every line applied."""
        cls._apply(lines)
        return CancelResult(lines=tuple(
            LineResult(ref=line.ref, line_id=line.line_id, outcome=LineOutcome.CONFIRMED,
                       marketplace_reference=f"C-{next(_ids)}") for line in lines))

    @classmethod
    def _apply(cls, lines: Sequence[LineCancel]) -> None:
        for line in lines:
            done = FakeBackend.remote_cancelled
            done[line.line_id] = done.get(line.line_id, 0) + line.quantity

    def get_order(self, order_id: str) -> MarketplaceOrder:
        from cancellations.models import OrderLine

        lines = OrderLine.objects.filter(order__external_id=order_id)
        return MarketplaceOrder(
            external_id=order_id, customer_order_id="", status="SHIPPING", currency="CAD", ordered_at=None,
            tax_mode="TAX_EXCLUDED",
            lines=tuple(MarketplaceOrderLine(
                external_id=line.external_id, sku=line.sku, title="", quantity=line.quantity,
                unit_price=line.unit_price, price=line.price, shipping_price=line.shipping_price, status=line.status,
                cancelled_quantity=FakeBackend.remote_cancelled.get(line.external_id, 0)) for line in lines),
        )

    def list_reasons(self):
        return []
