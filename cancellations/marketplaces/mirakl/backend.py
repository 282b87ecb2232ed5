"""Mirakl (MMP seller API) backend: OR21/OR29/OR30 to cancel, OR11 orders, RE01 reasons.

Auth is the shop's raw API key in ``Authorization`` (no scheme). ``shop_id`` (account option) goes on
every call when set. The call depends on the line (``call_for``):

* a line not yet accepted (WAITING_ACCEPTANCE) is refused whole with **OR21**
  ``PUT /api/orders/{order_id}/accept`` ``{"order_lines": [{"accepted": false, "id": ...}]}`` (204), one call
  per order, with any other waiting lines the request accepts (``accept_others``);
* an account whose operator left shop partial cancelation off cancels whole orders with **OR29**
  ``PUT /api/orders/{order_id}/cancel`` (no body, 204), one call per order;
* otherwise **OR30** ``PUT /api/orders/cancel``: lines of several orders (the body has no order id), at most
  100 per call (the limit sibling APIs document; OR30 documents none) and one tax mode per call. Amounts,
  taxes and fees are computed by ``pricing`` and sent as exact JSON numbers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import requests
from django.views.decorators.debug import sensitive_variables

from ...jsonexact import json_dumps_exact
from ..base import (
    CancelResult,
    ConfigurationError,
    ExternalCancellation,
    LineCancel,
    LineOutcome,
    LineResult,
    LineTax,
    MarketplaceBackend,
    MarketplaceOrder,
    MarketplaceOrderLine,
    PermanentError,
    PreparedCall,
    Reason,
    TaxAmount,
    TransientError,
    response_text,
)

PAGE_SIZE = 100  # OR11's maximum "max": a sync makes the fewest list calls
CENT = Decimal("0.01")
OR21, OR29, OR30 = "OR21", "OR29", "OR30"
CALL_NAMES = {OR21: "OR21 (refuse the line: not accepted yet)", OR29: "OR29 (cancel the whole order)",
              OR30: "OR30 (cancel order lines)"}
#: Line states in which every unit is gone (refused or cancelled), listed in ``cancelations[]`` or not.
UNITS_GONE_STATES = frozenset({"REFUSED", "CANCELED"})
# The sandbox (and our parser) name a rejected line as: Order line '<order_line_id>': <reason>
LINE_ERROR = re.compile(r"Order line '([^']+)':\s*(.*?)(?=;\s*Order line '|$)", re.DOTALL)


def call_for(line: LineCancel) -> str:
    """The Mirakl call that cancels this line: OR21 (refuse), OR29 (whole order) or OR30."""
    if line.line_status.upper() == "WAITING_ACCEPTANCE":
        return OR21
    return OR29 if line.whole_order else OR30


def _amount(value: Decimal) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def _tax_items(taxes: Sequence[TaxAmount]) -> list[dict[str, Any]]:
    return [{"amount": _amount(t.amount), "code": t.code} for t in taxes]


def _decimal(value: Any, default: str = "0") -> Decimal:
    if value is None or value == "":
        return Decimal(default)
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal(default)


def _date(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def mirakl_date(moment: datetime) -> str:
    """``2025-01-10T14:00:00Z`` (UTC, whole seconds: flooring keeps the window inclusive)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------------ OR11 parsing


def _taxes(items: Any) -> tuple[LineTax, ...]:
    return tuple(
        LineTax(
            code=str(t.get("code", "")),
            amount=_decimal(t.get("amount")),
            rate=_decimal(t["rate"]) if t.get("rate") is not None else None,
            rule=str(t.get("tax_calculation_rule") or ""),
        )
        for t in items or ()
    )


def _tax_amounts(items: Any) -> tuple[TaxAmount, ...]:
    return tuple(
        TaxAmount(code=str(t.get("code", "")), amount=_decimal(t.get("amount"))) for t in items or ()
    )


def _cancellation(data: Mapping[str, Any]) -> ExternalCancellation:
    return ExternalCancellation(
        id=str(data.get("id", "")),
        quantity=int(data.get("quantity") or 0),
        amount=_decimal(data.get("amount")),
        shipping_amount=_decimal(data.get("shipping_amount")),
        taxes=_tax_amounts(data.get("taxes")),
        shipping_taxes=_tax_amounts(data.get("shipping_taxes")),
        reason_code=str(data.get("reason_code") or ""),
        fees=_tax_amounts(data.get("fees")),
    )


def order_line_parse(data: Mapping[str, Any]) -> MarketplaceOrderLine:
    cancellations = tuple(_cancellation(c) for c in data.get("cancelations") or ())
    quantity = int(data.get("quantity") or 0)
    status = str(data.get("order_line_state") or "")
    cancelled = sum(c.quantity for c in cancellations)
    if status.upper() in UNITS_GONE_STATES:  # refused (OR21) or cancelled whole (OR29): no entries needed
        cancelled = quantity
    return MarketplaceOrderLine(
        external_id=str(data["order_line_id"]),
        sku=str(data.get("offer_sku") or data.get("product_sku") or ""),
        title=str(data.get("product_title") or ""),
        quantity=quantity,
        unit_price=_decimal(data.get("price_unit")),
        price=_decimal(data.get("price")),
        shipping_price=_decimal(data.get("shipping_price")),
        status=status,
        cancelled_quantity=min(cancelled, quantity),
        taxes=_taxes(data.get("taxes")),
        shipping_taxes=_taxes(data.get("shipping_taxes")),
        cancellations=cancellations,
        raw=data,
        fees=_taxes(data.get("fees")),
    )


def order_parse(data: Mapping[str, Any]) -> MarketplaceOrder:
    """One OR11 order into the shared result type (unknown fields are kept in ``raw`` and ignored)."""
    return MarketplaceOrder(
        external_id=str(data["order_id"]),
        customer_order_id=str(data.get("commercial_id") or ""),
        status=str(data.get("order_state") or ""),
        currency=str(data.get("currency_iso_code") or ""),
        ordered_at=_date(data.get("created_date")),
        tax_mode=str(data.get("order_tax_mode") or ""),
        lines=tuple(order_line_parse(line) for line in data.get("order_lines") or ()),
        raw=data,
    )


# ------------------------------------------------------------------------------------ the backend


class MiraklBackend(MarketplaceBackend):
    marketplace: ClassVar[str] = "mirakl"
    max_lines_per_cancel: ClassVar[int | None] = 100
    reports_cancellation_ids = True

    @classmethod
    def batch_key(cls, line: LineCancel) -> str:
        """The call's name first (recorded on the call row). OR21 and OR29 name one order; OR30 has no order id
        in its body, so lines of any orders of the account share one call if they share its order_tax_mode."""
        call = call_for(line)
        return f"{call} {line.tax_mode}" if call == OR30 else f"{call} {line.order_id}"

    @classmethod
    def call_name(cls, line: LineCancel) -> str:
        return CALL_NAMES[call_for(line)]

    # --- plumbing ------------------------------------------------------------------------------------

    @sensitive_variables("api_key", "headers")
    def _headers(self, *, json_body: bool = False) -> dict[str, str]:
        api_key = self.account.credentials.get("api_key")
        if not api_key:
            raise ConfigurationError("The Mirakl account has no API key.", code="missing_api_key")
        headers = {"Authorization": str(api_key), "Accept": "application/json"}
        if json_body:
            headers["Content-Type"] = "application/json"
        return headers

    def _url(self, path: str, params: Sequence[tuple[str, Any]] = ()) -> str:
        query = list(params)
        shop_id = self.account.options.get("shop_id")
        if shop_id not in (None, ""):
            query.append(("shop_id", shop_id))
        return f"{self.base_url}{path}" + (f"?{urlencode(query)}" if query else "")

    def _json(self, response: requests.Response) -> Any:
        try:
            return json.loads(response.content, parse_float=Decimal)
        except ValueError as exc:
            raise TransientError(
                "Mirakl answered with a body that is not JSON", code="bad_response",
                status_code=response.status_code,
            ) from exc

    def _orders_get(self, operation: str, params: Sequence[tuple[str, Any]]) -> Mapping[str, Any]:
        tax_mode = self.account.options.get("tax_mode")
        if tax_mode:
            params = [*params, ("order_tax_mode", tax_mode)]
        response = self.request(
            operation, "GET", self._url("/api/orders", params), headers=self._headers(),
            correlation_id=self.new_correlation_id(),
        )
        data = self._json(response)
        if not isinstance(data, Mapping) or not isinstance(data.get("orders"), list):
            raise TransientError("Mirakl OR11 answer has no orders list", code="bad_response")
        return data

    # --- OR30 ----------------------------------------------------------------------------------------

    def cancel_payload(self, lines: Sequence[LineCancel]) -> dict[str, Any]:
        """The OR30 body for ``lines`` (amounts stay ``Decimal``; ``json_dumps_exact`` writes them)."""
        if len(lines) > (self.max_lines_per_cancel or len(lines)):
            raise ValueError(
                f"OR30 takes at most {self.max_lines_per_cancel} lines per call, got {len(lines)}."
            )
        line_ids = [line.line_id for line in lines]
        if len(set(line_ids)) != len(line_ids):
            raise ValueError("An order line appears twice in one OR30 call.")
        tax_modes = {line.tax_mode for line in lines if line.tax_mode}
        if len(tax_modes) > 1:
            raise ValueError(
                f"Lines with different tax modes cannot share one OR30 call: {sorted(tax_modes)}."
            )
        cancelations = []
        for line in lines:
            item: dict[str, Any] = {
                "order_line_id": line.line_id,
                "quantity": line.quantity,
                "reason_code": line.reason_code,
                "amount": _amount(line.amount),
                "shipping_amount": _amount(line.shipping_amount),
            }
            if line.currency:
                item["currency_iso_code"] = line.currency
            if line.taxes:
                item["taxes"] = _tax_items(line.taxes)
            if line.shipping_taxes:
                item["shipping_taxes"] = _tax_items(line.shipping_taxes)
            if line.fees:
                item["fees"] = _tax_items(line.fees)
            cancelations.append(item)
        payload: dict[str, Any] = {"cancelations": cancelations}
        if tax_modes:
            payload["order_tax_mode"] = tax_modes.pop()
        return payload

    def cancel_request(self, lines: Sequence[LineCancel]) -> PreparedCall:
        calls = {call_for(line) for line in lines}
        orders = {line.order_id for line in lines}
        if len(calls) > 1 or (calls != {OR30} and len(orders) > 1):
            raise ValueError(f"These lines need different calls ({sorted(calls)}) or orders ({sorted(orders)}).")
        call, order_id = calls.pop(), quote(orders.pop(), safe="")
        if call == OR21:
            decisions = [{"accepted": False, "id": line.line_id} for line in lines]
            refused = {line.line_id for line in lines}
            decisions += [{"accepted": True, "id": other} for other in lines[0].accept_others if other not in refused]
            return PreparedCall("PUT", self._url(f"/api/orders/{order_id}/accept"),
                                json.dumps({"order_lines": decisions}), name=OR21)
        if call == OR29:
            return PreparedCall("PUT", self._url(f"/api/orders/{order_id}/cancel"), "", name=OR29)
        return PreparedCall("PUT", self._url("/api/orders/cancel"), json_dumps_exact(self.cancel_payload(lines)),
                            name=OR30)

    def cancel_lines(self, lines: Sequence[LineCancel]) -> CancelResult:
        if not lines:
            return CancelResult(lines=())
        prepared = self.cancel_request(lines)
        response = self.request(
            "cancel", prepared.method, prepared.url, headers=self._headers(json_body=bool(prepared.body)),
            body=prepared.body or None, correlation_id=self.new_correlation_id(),
        )
        if prepared.name != OR30:
            # OR21 / OR29 answer 204 with no body: every line of the call was refused / cancelled whole.
            status = "REFUSED" if prepared.name == OR21 else "CANCELED"
            return CancelResult(lines=tuple(
                LineResult(ref=line.ref, line_id=line.line_id, outcome=LineOutcome.CONFIRMED, line_status=status,
                           cancelled_quantity=line.previously_cancelled + line.quantity)
                for line in lines
            ), raw=response_text(response))
        data = self._json(response)
        created = data.get("cancelations") if isinstance(data, Mapping) else None
        if not isinstance(created, list):
            # A 200 without the list: it may well have been applied. Let the caller read the orders back.
            raise TransientError(
                "Mirakl OR30 answer has no cancelations list", code="bad_response",
                status_code=response.status_code, outcome_unknown=True,
            )
        by_line = {str(c.get("order_line_id")): c for c in created if isinstance(c, Mapping)}
        results = []
        for line in lines:
            item = by_line.get(line.line_id)
            if item is None:
                # A 200 that is silent about a line does not say it was refused: the caller reads it back.
                results.append(LineResult(
                    ref=line.ref, line_id=line.line_id, outcome=LineOutcome.UNKNOWN,
                    error_code="line_missing_from_answer",
                    error_message="Mirakl did not return a cancelation for this line.",
                ))
            else:
                results.append(LineResult(
                    ref=line.ref, line_id=line.line_id, outcome=LineOutcome.CONFIRMED,
                    marketplace_reference=str(item.get("cancelation_id") or ""),
                ))
        return CancelResult(lines=tuple(results), raw=response_text(response))

    # --- OR11 ----------------------------------------------------------------------------------------

    def get_order(self, order_id: str) -> MarketplaceOrder:
        data = self._orders_get("get_order", [("order_ids", order_id)])
        for order in data["orders"]:
            if str(order.get("order_id")) == order_id:
                return order_parse(order)
        raise PermanentError(
            f"Order {order_id} was not found on Mirakl.", code="order_not_found", status_code=404
        )

    def iter_order_pages(self, since: datetime) -> Iterator[list[MarketplaceOrder]]:
        offset = 0
        while True:
            data = self._orders_get(
                "list_orders",
                [("start_update_date", mirakl_date(since)), ("max", PAGE_SIZE), ("offset", offset)],
            )
            orders = data["orders"]
            if not orders:
                return
            yield [order_parse(order) for order in orders]
            offset += len(orders)
            total = data.get("total_count")
            if total is None or offset >= int(total):
                return

    # --- RE01 ----------------------------------------------------------------------------------------

    def connection_test(self) -> str:
        """RE01: the shop's reasons (one small GET that needs a valid API key)."""
        reasons = self.list_reasons()
        return f"Connected: the shop answered with {len(reasons)} cancellation reason(s) (RE01)."

    def list_reasons(self) -> list[Reason]:
        response = self.request(
            "reasons", "GET", self._url("/api/reasons"), headers=self._headers(),
            correlation_id=self.new_correlation_id(),
        )
        data = self._json(response)
        reasons = data.get("reasons") if isinstance(data, Mapping) else None
        return [
            Reason(code=str(r["code"]), label=str(r.get("label") or ""))
            for r in reasons or ()
            if isinstance(r, Mapping) and "code" in r
            and r.get("type") == "CANCELATION" and r.get("is_shop_right") is True
        ]

    # --- errors --------------------------------------------------------------------------------------

    def parse_error(self, response: requests.Response) -> tuple[str, str, dict[str, tuple[str, str]]]:
        try:
            data = response.json()
        except ValueError:
            data = None
        message = str(data.get("message") or "") if isinstance(data, Mapping) else ""
        message = message or response_text(response)[:500]
        # Mirakl documents only ``message``; a ``code`` (or ``error_code``) some instances add is kept as given.
        given = next((data.get(k) for k in ("code", "error_code") if isinstance(data, Mapping)
                      and isinstance(data.get(k), str | int) and not isinstance(data.get(k), bool)
                      and str(data.get(k)).strip()), None)
        status = data.get("status") if isinstance(data, Mapping) else None
        code = str(given).strip()[:100] if given is not None else (
            f"http_{status if isinstance(status, int) else response.status_code}")
        line_errors = {
            line_id: (code, reason.strip())
            for line_id, reason in LINE_ERROR.findall(message)
            if line_id in _request_line_ids(response)
        }
        return code, message, line_errors


def _request_line_ids(response: requests.Response) -> set[str]:
    """Order line ids of the OR30 request behind ``response`` (only those may be blamed)."""
    body = response.request.body if response.request is not None else None
    if not body:
        return set()
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return set()
    if not isinstance(data, Mapping):
        return set()
    items = data.get("cancelations") or ()
    refused = [i for i in data.get("order_lines") or () if isinstance(i, Mapping) and i.get("accepted") is False]
    return ({str(i.get("order_line_id")) for i in items if isinstance(i, Mapping)}
            | {str(i.get("id")) for i in refused})
