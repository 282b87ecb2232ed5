"""Emulated Mirakl seller API: OR11 (list orders), OR21 (accept or refuse lines), OR29 (cancel an order), OR30
(cancel order lines), RE01 (reasons).

Mounted at ``/sandbox/mirakl/``; an account's base URL is ``{host}/sandbox/mirakl``. Orders live in
``SandboxOrder.data`` in OR11's shape; amounts there are 2-dp strings (rates strings too), read back as
``Decimal`` (numbers left by older versions are read the same way). Answers carry them as exact JSON numbers,
written from ``Decimal`` by ``json_dumps_exact``.

Where Mirakl's behaviour is undocumented the sandbox picks the strict reading, so a client that works
here does not lean on leniency: OR30 is all-or-nothing (every item is validated before any is applied),
amounts and fees may not exceed what remains of the line, ``taxes`` / ``shipping_taxes`` are required when the
line has them ("required if the order has taxes"), only orders not yet debited can be cancelled (OR29/OR30), and
lines waiting for acceptance are refused (OR21), not cancelled. Without ``shop_id`` the key's default shop (the
first one set up for it) answers, as the docs say.
Errors are ``{"message": ..., "status": ...}``; a message about one line reads
``Order line '<order_line_id>': <reason>`` (several are joined with ``; ``), which the backend parses.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils import timezone

from ..jsonexact import json_dumps_exact
from . import state
from .endpoint import WRITES, Answer, Call, endpoint
from .models import SandboxCancel, SandboxOrder, SandboxSeller, secret_digest

logger = logging.getLogger(__name__)
MARKETPLACE = "mirakl"
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
DEFAULT_SLOW_DELAY = 3.0
DEFAULT_RETRY_AFTER = 1
OR11_DEFAULT_MAX = 10
OR11_MAX = 100
TAX_MODES = ("TAX_EXCLUDED", "TAX_INCLUDED")
ORDER_STATES = frozenset({
    "STAGING", "WAITING_ACCEPTANCE", "WAITING_DEBIT", "WAITING_DEBIT_PAYMENT", "SHIPPING", "SHIPPED", "TO_COLLECT",
    "RECEIVED", "CLOSED", "REFUSED", "CANCELED", "INCIDENT_OPEN", "REFUNDED", "WAITING_REFUND",
    "WAITING_REFUND_PAYMENT",
})
# Order (and line) states in which a shop can no longer cancel.
NOT_CANCELLABLE_STATES = frozenset({"SHIPPED", "TO_COLLECT", "RECEIVED", "CLOSED", "CANCELED", "REFUSED", "REFUNDED"})
# Keys whose values are money (2 dp) or tax rates, wherever they appear in an order, line or cancelation.
AMOUNT_KEYS = frozenset({"price_unit", "price", "shipping_price", "total_price", "amount", "shipping_amount"})
RATE_KEYS = frozenset({"rate"})

# RE01 as this operator configures it (synthetic codes and labels).
REASONS: list[dict[str, Any]] = [
    {"code": "21", "label": "Customer asked to cancel before shipping", "type": "CANCELATION", "is_shop_right": True},
    {"code": "22", "label": "Item out of stock", "type": "CANCELATION", "is_shop_right": True},
    {"code": "23", "label": "Price displayed in error", "type": "CANCELATION", "is_shop_right": True},
    {"code": "24", "label": "Cannot deliver to this address", "type": "CANCELATION", "is_shop_right": True},
    {"code": "29", "label": "Seller did not respond in time", "type": "CANCELATION", "is_shop_right": False},
    {"code": "30", "label": "Cancelled by customer service", "type": "CANCELATION", "is_shop_right": False},
    {"code": "31", "label": "Item arrived damaged", "type": "REFUND", "is_shop_right": True},
    {"code": "32", "label": "Item not as described", "type": "REFUND", "is_shop_right": True},
]
FOREIGN_REASON = "30"  # what a cancel made by someone else (operator, customer service) carries
SHOP_CANCEL_REASONS = frozenset(r["code"] for r in REASONS if r["type"] == "CANCELATION" and r["is_shop_right"])


# ------------------------------------------------------------------------------------------ helpers


class Refusal(Exception):
    """An error answer the view returns as JSON ``{"message", "status"}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _answer(payload: Any, status: int = 200) -> HttpResponse:
    """A JSON answer; stored amounts and rates become exact JSON numbers (see ``_wire``)."""
    return HttpResponse(json_dumps_exact(_wire(payload)), status=status, content_type="application/json")


def _error(status: int, message: str) -> HttpResponse:
    return _answer({"message": message, "status": status}, status=status)


def dec(value: Any) -> Decimal:
    """A stored amount (a string, or a number left by an older version) as a 2-dp Decimal."""
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def money_text(value: Any) -> str:
    """A 2-dp amount as ``SandboxOrder.data`` stores it: ``"1299.99"``."""
    return str(dec(value))


def rate_text(value: Any) -> str:
    """A tax rate (percent) as ``SandboxOrder.data`` stores it, with its own digits: ``"13"``, ``"9.975"``."""
    return str(Decimal(str(value)))


def _convert(value: Any, amount: Callable[[Any], Any], rate: Callable[[Any], Any]) -> Any:
    """``value`` with every amount and rate (by key, at any depth) passed through ``amount`` / ``rate``."""
    if isinstance(value, Mapping):
        return {
            k: amount(v) if k in AMOUNT_KEYS and v is not None
            else rate(v) if k in RATE_KEYS and v is not None
            else _convert(v, amount, rate)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_convert(v, amount, rate) for v in value]
    return value


def _stored(value: Any) -> Any:
    """Amounts and rates as the strings ``SandboxOrder.data`` holds."""
    return _convert(value, money_text, rate_text)


def _wire(value: Any) -> Any:
    """Amounts and rates as Decimals, which ``json_dumps_exact`` writes as exact JSON numbers."""
    return _convert(value, dec, lambda v: Decimal(str(v)))


def _iso(moment: datetime) -> str:
    """Mirakl's date format, in UTC with milliseconds: ``2025-01-10T14:03:00.000Z``."""
    moment = moment.astimezone(timezone.get_fixed_timezone(0))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def mirakl_now() -> tuple[datetime, str]:
    now = timezone.now()
    return now, _iso(now)


def _by_code(taxes: Iterable[Mapping[str, Any]]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for tax in taxes or ():
        totals[str(tax["code"])] = totals.get(str(tax["code"]), ZERO) + dec(tax["amount"])
    return totals


# ------------------------------------------------------------------------------------------ auth


def _authenticate(request: HttpRequest, operation: str) -> SandboxSeller:
    """The seller behind the API key (and ``shop_id``), or a ``Refusal``. The key is never echoed."""
    key = request.headers.get("Authorization", "")
    sellers = (
        list(SandboxSeller.objects.filter(marketplace=MARKETPLACE, secret_sha256=secret_digest(key))
             .annotate(**{state.FAULTS_PENDING: state.faults_pending(operation)}).order_by("id"))
        if key else []
    )
    if not sellers:
        raise Refusal(401, "Unauthorized: missing or invalid API key")
    shop_id = request.GET.get("shop_id", "")
    if shop_id:
        for seller in sellers:
            if seller.shop_id == shop_id:
                return seller
        raise Refusal(403, f"Forbidden: this API key has no access to shop {shop_id}")
    # "If not specified, the shop_id from your default shop will be used": the first shop set up for the key.
    return sellers[0]


# ------------------------------------------------------------------------------------------ OR11


def _int_param(request: HttpRequest, name: str, default: int, low: int, high: int | None = None) -> int:
    raw = request.GET.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Refusal(400, f"Parameter {name} must be an integer") from None
    if value < low or (high is not None and value > high):
        raise Refusal(400, f"Parameter {name} must be between {low} and {high or 'infinity'}")
    return value


def _date_param(request: HttpRequest, name: str) -> datetime | None:
    raw = request.GET.get(name, "")
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise Refusal(400, f"Parameter {name} must be an ISO 8601 date") from None
    return timezone.make_aware(moment, timezone.get_fixed_timezone(0)) if timezone.is_naive(moment) else moment


#: OR11 date filters: parameter -> (the field it bounds, lookup).
DATE_FILTERS = {
    "start_date": ("created_at", "gte"), "end_date": ("created_at", "lte"),
    "start_update_date": ("updated_at", "gte"), "end_update_date": ("updated_at", "lte"),
}


def orders_list(request: HttpRequest, seller: SandboxSeller, call: Call) -> HttpResponse:
    """OR11: ``order_ids``, ``order_state_codes`` (comma-separated), ``start_date``/``end_date`` (created),
    ``start_update_date``/``end_update_date``, ``max``, ``offset``; answers ``orders`` and ``total_count``.
    ``order_tax_mode`` is accepted and ignored (orders are shown in their own mode)."""
    orders = SandboxOrder.objects.filter(seller=seller)
    if request.GET.get("order_ids"):
        orders = orders.filter(external_id__in=[i for i in request.GET["order_ids"].split(",") if i])
    for name, (field_name, lookup) in DATE_FILTERS.items():
        moment = _date_param(request, name)
        if moment is not None:
            orders = orders.filter(**{f"{field_name}__{lookup}": moment})
    states = [code for code in request.GET.get("order_state_codes", "").split(",") if code]
    if states:
        unknown = sorted(set(states) - ORDER_STATES)
        if unknown:
            raise Refusal(400, f"Parameter order_state_codes has unknown states: {', '.join(unknown)}")
        orders = orders.filter(external_id__in=[
            o.external_id for o in orders.only("external_id", "data") if o.data.get("order_state") in states
        ])
    size = _int_param(request, "max", OR11_DEFAULT_MAX, 1, OR11_MAX)
    offset = _int_param(request, "offset", 0, 0)
    total = orders.count()
    page = [order.data for order in orders.order_by("created_at", "id")[offset:offset + size]]
    return _answer({"orders": page, "total_count": total})


# ------------------------------------------------------------------------------------------ RE01


def reasons_list(request: HttpRequest, seller: SandboxSeller, call: Call) -> HttpResponse:
    return _answer({"reasons": REASONS})


# ------------------------------------------------------------------------------------------ OR30


def _money_field(item: Mapping[str, Any], name: str) -> Decimal:
    value = item.get(name)
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError(f"field {name} must be a number")
    amount = Decimal(value)
    try:
        exact = amount == amount.quantize(CENT)
    except InvalidOperation:  # too many digits to quantize
        exact = False
    if amount < 0 or not exact:
        raise ValueError(f"field {name} must be a non-negative amount with at most 2 decimals")
    return amount


def _tax_field(item: Mapping[str, Any], name: str) -> dict[str, Decimal]:
    taxes = item.get(name)
    if taxes is None:
        return {}
    if not isinstance(taxes, list) or not all(isinstance(t, dict) and isinstance(t.get("code"), str) for t in taxes):
        raise ValueError(f"field {name} must be a list of {{amount, code}}")
    result: dict[str, Decimal] = {}
    for tax in taxes:
        if tax["code"] in result:
            raise ValueError(f"tax {tax['code']} appears twice in {name}")
        result[tax["code"]] = _money_field(tax, "amount")
    return result


def _item_parse(item: Any, index: int) -> dict[str, Any]:
    if not isinstance(item, dict) or not isinstance(item.get("order_line_id"), str) or not item["order_line_id"]:
        raise Refusal(400, f"Error with field cancelations[{index}].order_line_id: a string is required")
    line_id = item["order_line_id"]
    try:
        quantity = item.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise ValueError("field quantity must be a positive integer")
        if not isinstance(item.get("reason_code"), str) or not item["reason_code"]:
            raise ValueError("field reason_code is required")
        return {
            "order_line_id": line_id, "quantity": quantity, "reason_code": item["reason_code"],
            "amount": _money_field(item, "amount"), "shipping_amount": _money_field(item, "shipping_amount"),
            "taxes": _tax_field(item, "taxes"), "shipping_taxes": _tax_field(item, "shipping_taxes"),
            "fees": _tax_field(item, "fees"),
            "sent": {name for name in ("taxes", "shipping_taxes") if item.get(name) is not None},
            "currency_iso_code": item.get("currency_iso_code"),
        }
    except ValueError as exc:
        raise Refusal(400, f"Order line '{line_id}': {exc}") from None


def _line_remaining(line: Mapping[str, Any]) -> dict[str, Any]:
    """What is left to cancel on a line: units, item amount, shipping, each tax and each fee."""
    done = line.get("cancelations") or []
    left = {name: _by_code(line.get(name)) for name in ("taxes", "shipping_taxes", "fees")}
    for cancelation in done:
        for name, by_code in left.items():
            for code, amount in _by_code(cancelation.get(name)).items():
                by_code[code] = by_code.get(code, ZERO) - amount
    return {
        "quantity": int(line["quantity"]) - sum(int(c.get("quantity") or 0) for c in done),
        "amount": dec(line["price"]) - sum((dec(c.get("amount", 0)) for c in done), ZERO),
        "shipping_amount": dec(line.get("shipping_price", 0)) - sum(
            (dec(c.get("shipping_amount", 0)) for c in done), ZERO
        ),
        **left,
    }


def _implied_taxes(
    line_taxes: list[Mapping[str, Any]], sent: dict[str, Decimal], remaining: dict[str, Decimal],
    part: Decimal, part_remaining: Decimal, part_total: Decimal,
) -> dict[str, Decimal]:
    """Taxes to record: those sent, plus PROPORTIONAL_TO_AMOUNT ones not sent (computed as Mirakl would);
    NONE-rule taxes not sent are not cancelled."""
    result = dict(sent)
    rules = {str(t["code"]): t.get("tax_calculation_rule") for t in line_taxes or ()}
    for code, left in remaining.items():
        if code in result or rules.get(code) != "PROPORTIONAL_TO_AMOUNT" or left <= 0:
            continue
        if part == part_remaining:
            result[code] = left
        elif part_total > 0:
            total = sum((dec(t["amount"]) for t in line_taxes if str(t["code"]) == code), ZERO)
            result[code] = min((total * part / part_total).quantize(CENT, rounding=ROUND_HALF_UP), left)
    return {code: amount for code, amount in result.items() if amount > 0 or code in sent}


def _item_check(item: dict[str, Any], order: SandboxOrder | None, line: dict | None, tax_mode: str | None) -> str:
    """Why this item cannot be applied, or ``""``."""
    if order is None or line is None:
        return "order line not found"
    data = order.data
    if data.get("order_state") in NOT_CANCELLABLE_STATES:
        return f"order {order.external_id} is {data.get('order_state')} and can no longer be cancelled"
    if line.get("order_line_state") in NOT_CANCELLABLE_STATES:
        return f"the line is {line.get('order_line_state')} and can no longer be cancelled"
    if line.get("order_line_state") == "WAITING_ACCEPTANCE":
        return "the line is WAITING_ACCEPTANCE: refuse it (OR21) instead of cancelling it"
    if data.get("customer_debited_date"):
        return f"order {order.external_id} is already debited to the customer: refund it (OR28) instead"
    for name in ("taxes", "shipping_taxes"):
        if line.get(name) and name not in item["sent"]:
            return f"field {name} is required: the line has {name}"
    if item["reason_code"] not in SHOP_CANCEL_REASONS:
        return f"reason code '{item['reason_code']}' is not a cancelation reason the shop may use"
    if item["currency_iso_code"] not in (None, data.get("currency_iso_code")):
        return f"currency {item['currency_iso_code']} differs from the order's {data.get('currency_iso_code')}"
    if tax_mode not in (None, data.get("order_tax_mode")):
        return f"order_tax_mode {tax_mode} differs from the order's {data.get('order_tax_mode')}"
    left = _line_remaining(line)
    if item["quantity"] > left["quantity"]:
        return f"quantity {item['quantity']} is more than the {left['quantity']} units left to cancel"
    for name in ("amount", "shipping_amount"):
        if item[name] > left[name]:
            return f"{name} {item[name]} is more than the {left[name]} left to cancel"
    for name in ("taxes", "shipping_taxes", "fees"):
        for code, amount in item[name].items():
            if code not in left[name]:
                return f"{'fee' if name == 'fees' else 'tax'} {code} is not on this line's {name}"
            if amount > left[name][code]:
                return f"{name} {code} {amount} is more than the {left[name][code]} left to cancel"
    return ""


def _line_find(order: SandboxOrder | None, line_id: str) -> dict | None:
    if order is None:
        return None
    return next((ln for ln in order.data.get("order_lines", []) if ln.get("order_line_id") == line_id), None)


def _apply(item: dict[str, Any], order: SandboxOrder, line: dict, created: str, records: list[SandboxCancel], *,
           call: Call | None = None, source: str = SandboxCancel.REQUEST) -> dict[str, Any]:
    """Record one cancelation on the line (in memory; its ``SandboxCancel`` row appended to ``records``, for
    ``state.cancels_record``) and return OR30's answer item. Call inside the transaction that saves ``order``."""
    left = _line_remaining(line)
    taxes = _implied_taxes(
        line.get("taxes") or [], item["taxes"], left["taxes"], item["amount"], left["amount"], dec(line["price"])
    )
    shipping_taxes = _implied_taxes(
        line.get("shipping_taxes") or [], item["shipping_taxes"], left["shipping_taxes"],
        item["shipping_amount"], left["shipping_amount"], dec(line.get("shipping_price", 0)),
    )
    cancelations = line.setdefault("cancelations", [])
    cancelation = {
        "id": f"{line['order_line_id']}-C{len(cancelations) + 1}",
        "amount": money_text(item["amount"]),
        "shipping_amount": money_text(item["shipping_amount"]),
        "taxes": [{"amount": money_text(a), "code": c} for c, a in taxes.items()],
        "shipping_taxes": [{"amount": money_text(a), "code": c} for c, a in shipping_taxes.items()],
        "fees": [{"amount": money_text(a), "code": c} for c, a in item.get("fees", {}).items()],
        "quantity": item["quantity"],
        "reason_code": item["reason_code"],
        "created_date": created,
    }
    cancelations.append(cancelation)
    records.append(state.cancel_row(
        seller_id=order.seller_id, order_id=order.external_id, line_id=line["order_line_id"], quantity=item["quantity"],
        reason_code=item["reason_code"], operation=call.operation if call else source,
        request_id=call.request_id if call else "", source=source,
    ))
    if item["quantity"] == left["quantity"]:
        line["order_line_state"] = "CANCELED"
    line["last_updated_date"] = created
    answer = {k: v for k, v in cancelation.items() if k not in ("id", "created_date")}
    return {
        "cancelation_id": cancelation["id"], "order_line_id": line["order_line_id"],
        "currency_iso_code": order.data.get("currency_iso_code"), **answer,
    }


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"null", parse_float=Decimal)
    except ValueError:
        raise Refusal(400, "The request body is not valid JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("cancelations"), list) or not body["cancelations"]:
        raise Refusal(400, "Error with field cancelations: a non-empty list is required")
    if body.get("order_tax_mode") not in (None, *TAX_MODES):
        raise Refusal(400, f"Error with field order_tax_mode: expected one of {', '.join(TAX_MODES)}")
    return body


def orders_cancel(request: HttpRequest, seller: SandboxSeller, call: Call) -> HttpResponse:
    """OR30, all-or-nothing: every item is checked under lock, then all are applied in one transaction."""
    if not (seller.options or {}).get("partial_cancelation", True):
        raise Refusal(400, "Shop partial cancelation is not enabled for this shop: cancel whole orders (OR29)")
    body = _body(request)
    items = [_item_parse(item, i) for i, item in enumerate(body["cancelations"])]
    line_ids = Counter(item["order_line_id"] for item in items)
    duplicates = sorted(i for i, n in line_ids.items() if n > 1)
    if duplicates:
        raise Refusal(400, "; ".join(f"Order line '{i}': appears more than once in the call" for i in duplicates))
    order_ids = {line_id.rsplit("-", 1)[0] for line_id in line_ids}
    with transaction.atomic():
        orders = {
            o.external_id: o
            for o in SandboxOrder.objects.select_for_update().filter(seller=seller, external_id__in=order_ids)
        }
        targets = []
        problems = []
        for item in items:
            order = orders.get(item["order_line_id"].rsplit("-", 1)[0])
            line = _line_find(order, item["order_line_id"])
            problem = _item_check(item, order, line, body.get("order_tax_mode"))
            if problem:
                problems.append(f"Order line '{item['order_line_id']}': {problem}")
            targets.append((item, order, line))
        if problems:
            raise Refusal(400, "; ".join(problems))
        now, created = mirakl_now()
        records: list[SandboxCancel] = []
        answers = [_apply(item, order, line, created, records, call=call) for item, order, line in targets]
        state.cancels_record(records)
        _orders_save(list({id(o): o for _, o, _ in targets}.values()), now, created)
    tax_mode = body.get("order_tax_mode") or targets[0][1].data.get("order_tax_mode")
    return _answer({"cancelations": answers, "order_tax_mode": tax_mode})


def _order_locked(seller: SandboxSeller, order_id: str) -> SandboxOrder:
    order = SandboxOrder.objects.select_for_update().filter(seller=seller, external_id=order_id).first()
    if order is None:
        raise Refusal(404, f"Order {order_id} not found")
    return order


def _decisions(request: HttpRequest) -> dict[str, bool]:
    """OR21's ``order_lines``: ``{"accepted": bool, "id": "<order_line_id>"}`` each, by line id."""
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        raise Refusal(400, "The request body is not valid JSON") from None
    items = body.get("order_lines") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise Refusal(400, "Error with field order_lines: a non-empty list is required")
    decisions: dict[str, bool] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            raise Refusal(400, f"Error with field order_lines[{index}].id: a string is required")
        if not isinstance(item.get("accepted"), bool):
            raise Refusal(400, f"Order line '{item['id']}': field accepted must be true or false")
        if item["id"] in decisions:
            raise Refusal(400, f"Order line '{item['id']}': appears more than once in the call")
        decisions[item["id"]] = item["accepted"]
    return decisions


def order_accept(request: HttpRequest, seller: SandboxSeller, call: Call) -> HttpResponse:
    """OR21: accept or refuse the lines of an order in WAITING_ACCEPTANCE; 204 with no body.

    Every waiting line needs a decision in the same call (``ORDER_LINE_ACCEPTANCE_DECISION_MISSING``); a shop
    whose ``partial_acceptance`` option is off must decide the same for all of them. Refused lines become
    REFUSED (their units are recorded as cancelled by this request); accepted ones go on to WAITING_DEBIT
    (PAY_ON_ACCEPTANCE) or SHIPPING; an order with every line refused becomes REFUSED.
    """
    decisions = _decisions(request)
    with transaction.atomic():
        order = _order_locked(seller, call.kwargs["order_id"])
        if order.data.get("order_state") != "WAITING_ACCEPTANCE":
            raise Refusal(400, f"Order {order.external_id} is {order.data.get('order_state')}, not WAITING_ACCEPTANCE")
        lines = {ln["order_line_id"]: ln for ln in order.data.get("order_lines", [])}
        problems = [f"Order line '{i}': not a line of order {order.external_id}" for i in decisions if i not in lines]
        problems += [f"Order line '{i}': is {lines[i].get('order_line_state')}, not WAITING_ACCEPTANCE"
                     for i in decisions if i in lines and lines[i].get("order_line_state") != "WAITING_ACCEPTANCE"]
        waiting = [i for i, ln in lines.items() if ln.get("order_line_state") == "WAITING_ACCEPTANCE"]
        problems += [f"Order line '{i}': ORDER_LINE_ACCEPTANCE_DECISION_MISSING, every line waiting for acceptance "
                     "needs a decision in the same call" for i in waiting if i not in decisions]
        if not problems and len(set(decisions.values())) > 1 and not (seller.options or {}).get(
                "partial_acceptance", True):
            problems.append("Partial acceptance is not enabled for this shop: accept or refuse every line")
        if problems:
            raise Refusal(400, "; ".join(problems))
        now, created = mirakl_now()
        accepted_state = "WAITING_DEBIT" if order.data.get("payment_workflow") == "PAY_ON_ACCEPTANCE" else "SHIPPING"
        refused = []
        for line_id, accepted in decisions.items():
            line = lines[line_id]
            line["order_line_state"] = accepted_state if accepted else "REFUSED"
            line["last_updated_date"] = created
            if not accepted:
                refused.append(state.cancel_row(seller_id=seller.pk, order_id=order.external_id, line_id=line_id,
                                                quantity=int(line["quantity"]), reason_code="",
                                                operation=call.operation, request_id=call.request_id))
        state.cancels_record(refused)
        states = {ln.get("order_line_state") for ln in lines.values()}
        order.data["order_state"] = "REFUSED" if states == {"REFUSED"} else accepted_state
        order.data["can_cancel"] = order.data["order_state"] not in NOT_CANCELLABLE_STATES
        _order_save(order, now, created)
    return HttpResponse(status=204)


def order_cancel_whole(request: HttpRequest, seller: SandboxSeller, call: Call) -> HttpResponse:
    """OR29: cancel a whole order not yet debited to the customer (``can_cancel``); 204 with no body. Every
    line still open becomes CANCELED (its units recorded as cancelled by this request)."""
    with transaction.atomic():
        order = _order_locked(seller, call.kwargs["order_id"])
        data = order.data
        if not data.get("can_cancel") or data.get("order_state") in NOT_CANCELLABLE_STATES:
            raise Refusal(400, f"Order {order.external_id} is {data.get('order_state')} and cannot be canceled")
        if data.get("customer_debited_date"):
            raise Refusal(400, f"Order {order.external_id} is already debited to the customer and cannot be canceled")
        now, created = mirakl_now()
        cancelled = []
        for line in data.get("order_lines", []):
            if line.get("order_line_state") in NOT_CANCELLABLE_STATES:
                continue
            units = _line_remaining(line)["quantity"]
            line["order_line_state"] = "CANCELED"
            line["last_updated_date"] = created
            cancelled.append(state.cancel_row(
                seller_id=seller.pk, order_id=order.external_id, line_id=line["order_line_id"], quantity=units,
                reason_code="", operation=call.operation, request_id=call.request_id,
            ))
        state.cancels_record(cancelled)
        _order_save(order, now, created)
    return HttpResponse(status=204)


def _order_save(order: SandboxOrder, now: datetime, created: str) -> None:
    """Save a changed order: CANCELED once every line is, and its update date moved."""
    _orders_save([order], now, created)


def _orders_save(orders: list[SandboxOrder], now: datetime, created: str) -> None:
    """``_order_save`` for the orders one request changed, in one UPDATE."""
    for order in orders:
        if all(ln.get("order_line_state") == "CANCELED" for ln in order.data.get("order_lines", [])):
            order.data["order_state"] = "CANCELED"
            order.data["can_cancel"] = False
        order.data["can_shop_ship"] = order.data.get("order_state") == "SHIPPING"
        order.data["last_updated_date"] = created
        order.updated_at = now
    if len(orders) == 1:
        orders[0].save(update_fields=["data", "updated_at"])
    else:
        SandboxOrder.objects.bulk_update(orders, ["data", "updated_at"])


def _share(total: Decimal, left: Decimal, units: int, quantity: int, units_left: int) -> Decimal:
    """``units`` of ``quantity``'s part of ``total``; the last units take exactly what is left."""
    if units >= units_left:
        return max(left, ZERO)
    return min(left, (total * units / quantity).quantize(CENT, rounding=ROUND_HALF_UP)) if quantity else ZERO


def foreign_cancel(seller: SandboxSeller, order_id: str, line_id: str, quantity: int = 1, *,
                   reason: str = "") -> int:
    """Someone else (customer service, the operator) cancels up to ``quantity`` open units of a line, with
    every amount and tax pro rata. Recorded in ``SandboxCancel`` with source ``foreign``. Returns the units."""
    with transaction.atomic():
        order = SandboxOrder.objects.select_for_update().filter(seller=seller, external_id=order_id).first()
        line = _line_find(order, line_id)
        if order is None or line is None or line.get("order_line_state") in NOT_CANCELLABLE_STATES:
            return 0
        left = _line_remaining(line)
        units = min(quantity, left["quantity"])
        if units <= 0:
            return 0
        total = int(line["quantity"])

        def part(amount: Any, remaining: Decimal) -> Decimal:
            return _share(dec(amount), remaining, units, total, left["quantity"])

        item = {
            "order_line_id": line_id, "quantity": units, "reason_code": reason or FOREIGN_REASON,
            "amount": part(line["price"], left["amount"]),
            "shipping_amount": part(line.get("shipping_price", 0), left["shipping_amount"]),
            "taxes": {c: part(a, left["taxes"].get(c, ZERO)) for c, a in _by_code(line.get("taxes")).items()},
            "shipping_taxes": {
                c: part(a, left["shipping_taxes"].get(c, ZERO)) for c, a in _by_code(line.get("shipping_taxes")).items()
            },
            "fees": {c: part(a, left["fees"].get(c, ZERO)) for c, a in _by_code(line.get("fees")).items()},
        }
        now, created = mirakl_now()
        records: list[SandboxCancel] = []
        _apply(item, order, line, created, records, source=SandboxCancel.FOREIGN)
        state.cancels_record(records)
        _order_save(order, now, created)
    return units


# ------------------------------------------------------------------------------------------ the emulator


class MiraklEmulator:
    """Mirakl's side of the shared pipeline (``endpoint``): auth, error shape, lines named by a request."""

    marketplace = MARKETPLACE

    def authenticate(self, call: Call) -> SandboxSeller:
        try:
            return _authenticate(call.request, call.operation)
        except Refusal as refusal:
            raise Answer(_error(refusal.status, refusal.message)) from None

    def error(self, call: Call, status: int, kind: str, message: str,
              headers: Mapping[str, str] | None = None) -> HttpResponse:
        response = _error(status, message)
        for name, value in (headers or {}).items():
            response[name] = value
        return response

    def line_rejected(self, call: Call, line_id: str, code: str, message: str) -> HttpResponse:
        if call.operation not in WRITES:
            return _error(400, message)
        return _error(400, f"Order line '{line_id}': {message}")

    def requested_lines(self, call: Call) -> list[tuple[str, str, int]]:
        try:
            if call.operation == "cancel":
                items = json.loads(call.request.body)["cancelations"]
                return [(str(i["order_line_id"]).rsplit("-", 1)[0], str(i["order_line_id"]), int(i["quantity"]))
                        for i in items]
            order_id = str(call.kwargs["order_id"])
            if call.operation == "refuse":
                return [(order_id, str(i["id"]), 1) for i in json.loads(call.request.body)["order_lines"]
                        if i.get("accepted") is False]
            order = SandboxOrder.objects.filter(seller=call.seller, external_id=order_id).first()
            return [(order_id, ln["order_line_id"], int(ln["quantity"])) for ln in (order.data["order_lines"]
                                                                                    if order else [])]
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            return []

    def foreign_cancel(self, seller: SandboxSeller, order_id: str, line_id: str, quantity: int,
                       reason: str = "") -> int:
        return foreign_cancel(seller, order_id, line_id, quantity, reason=reason)

    def finish(self, call: Call, response: HttpResponse) -> None:
        return None


EMULATOR = MiraklEmulator()


def _handler(view: Callable[[HttpRequest, SandboxSeller, Call], HttpResponse]) -> Callable[..., HttpResponse]:
    def handle(call: Call, **kwargs: Any) -> HttpResponse:
        assert call.seller is not None
        try:
            return view(call.request, call.seller, call)
        except Refusal as refusal:
            return _error(refusal.status, refusal.message)

    return handle


def _or11_operation(request: HttpRequest) -> str:
    return "get_order" if request.GET.get("order_ids") else "list_orders"


urlpatterns = [
    path("api/orders", endpoint(EMULATOR, _or11_operation, "GET", _handler(orders_list)),
         name="sandbox-mirakl-or11"),
    path("api/orders/cancel", endpoint(EMULATOR, "cancel", "PUT", _handler(orders_cancel)),
         name="sandbox-mirakl-or30"),
    path("api/reasons", endpoint(EMULATOR, "reasons", "GET", _handler(reasons_list)), name="sandbox-mirakl-re01"),
    path("api/orders/<str:order_id>/accept", endpoint(EMULATOR, "refuse", "PUT", _handler(order_accept)),
         name="sandbox-mirakl-or21"),
    path("api/orders/<str:order_id>/cancel", endpoint(EMULATOR, "cancel_order", "PUT", _handler(order_cancel_whole)),
         name="sandbox-mirakl-or29"),
]


# ------------------------------------------------------------------------------------------ seeding


def _tax_entries(taxes: Iterable[Mapping[str, Any]], base: Decimal) -> list[dict[str, Any]]:
    """``[{code, rate (percent), tax_calculation_rule, amount?}]`` → OR11 taxes (amount from the rate)."""
    entries = []
    for tax in taxes:
        rate = Decimal(str(tax.get("rate", "0")))
        amount = dec(tax["amount"]) if "amount" in tax else (base * rate / 100).quantize(CENT, ROUND_HALF_UP)
        entries.append({
            "code": tax["code"], "amount": money_text(amount), "rate": rate_text(rate),
            "tax_calculation_rule": tax.get("tax_calculation_rule", "PROPORTIONAL_TO_AMOUNT"),
        })
    return entries


def _line_data(order_id: str, index: int, spec: Mapping[str, Any], state: str, created: str) -> dict[str, Any]:
    quantity = int(spec.get("quantity", 1))
    unit = Decimal(str(spec.get("price_unit", "10.00")))
    price = Decimal(str(spec["price"])) if "price" in spec else unit * quantity
    shipping = Decimal(str(spec.get("shipping_price", "0.00")))
    sku = spec.get("sku", f"SKU-{order_id}-{index}")
    fees = [{"code": f["code"], "amount": money_text(f["amount"])} for f in spec.get("fees", ())]
    fee_total = sum((dec(f["amount"]) for f in fees), ZERO)
    return {
        "order_line_id": f"{order_id}-{index}",
        "order_line_index": index,
        "offer_id": 100000 + zlib.crc32(sku.encode()) % 900000,
        "offer_sku": sku,
        "product_sku": spec.get("product_sku", f"P-{sku}"),
        "product_title": spec.get("title", f"Sandbox product {index}"),
        "quantity": quantity,
        "price_unit": money_text(unit),
        "price": money_text(price),
        "shipping_price": money_text(shipping),
        "total_price": money_text(price + shipping + fee_total),
        "fees": fees,
        "taxes": _tax_entries(spec.get("taxes", ()), price),
        "shipping_taxes": _tax_entries(spec.get("shipping_taxes", ()), shipping),
        "order_line_state": spec.get("state", state),
        "cancelations": [
            _stored({**c, "created_date": c.get("created_date") or created}) for c in spec.get("cancelations", ())
        ],
        "refunds": [],
        "can_refund": False,
        "created_date": created,
        "last_updated_date": created,
    }


def _customer(order_id: str) -> dict[str, Any]:
    """OR11's ``customer``: names and both addresses (synthetic)."""
    address = {
        "firstname": "Sandbox", "lastname": "Customer", "company": None, "street_1": "8800 Glenlyon Pkwy",
        "street_2": None, "city": "Burnaby", "state": "BC", "zip_code": "V5J 5K3", "country": "Canada",
        "country_iso_code": "CAN", "phone": "6045550100",
    }
    return {
        "customer_id": f"CUST-{order_id.rsplit('-', 1)[0]}", "civility": None, "firstname": "Sandbox",
        "lastname": "Customer", "locale": "en_CA", "billing_address": address, "shipping_address": address,
    }


def order_add(
    seller: SandboxSeller, *, order_id: str, lines: list[Mapping[str, Any]], state: str = "SHIPPING",
    currency: str = "CAD", tax_mode: str = "TAX_EXCLUDED", created_at: datetime | None = None,
    payment_workflow: str = "PAY_ON_DELIVERY", debited: bool = False,
) -> SandboxOrder:
    """Create (or replace) one order. Line specs: quantity, price_unit (or price), shipping_price, sku,
    title, state, cancelations, taxes/shipping_taxes ``[{code, rate, tax_calculation_rule, amount?}]``,
    fees ``[{code, amount}]``. ``debited``: the customer was debited (OR29/OR30 no longer apply)."""
    created_at = created_at or timezone.now()
    created = _iso(created_at)
    order_lines = [_line_data(order_id, i, spec, state, created) for i, spec in enumerate(lines, start=1)]
    price = sum((dec(ln["price"]) for ln in order_lines), ZERO)
    shipping = sum((dec(ln["shipping_price"]) for ln in order_lines), ZERO)
    total = sum((dec(ln["total_price"]) for ln in order_lines), ZERO)
    data = {
        "order_id": order_id,
        "commercial_id": order_id.rsplit("-", 1)[0],
        "order_state": state,
        "can_cancel": state not in NOT_CANCELLABLE_STATES and not debited,
        "can_shop_ship": state == "SHIPPING",
        "payment_workflow": payment_workflow,
        "customer_debited_date": created if debited else None,
        "customer": _customer(order_id),
        "currency_iso_code": currency,
        "order_tax_mode": tax_mode,
        "price": money_text(price),
        "shipping_price": money_text(shipping),
        "total_price": money_text(total),
        "created_date": created,
        "last_updated_date": created,
        "order_lines": order_lines,
    }
    order, _ = SandboxOrder.objects.update_or_create(
        seller=seller, external_id=order_id,
        defaults={"data": data, "created_at": created_at, "updated_at": created_at},
    )
    return order


GST = {"code": "GST", "rate": "5", "tax_calculation_rule": "PROPORTIONAL_TO_AMOUNT"}
PST = {"code": "PST", "rate": "7", "tax_calculation_rule": "NONE"}
HST = {"code": "HST", "rate": "13", "tax_calculation_rule": "PROPORTIONAL_TO_AMOUNT"}
HST_NONE = {**HST, "tax_calculation_rule": "NONE"}

# Synthetic Best Buy-like orders (CAD, TAX_EXCLUDED, Canadian sales taxes).
SEED_ORDERS: list[dict[str, Any]] = [
    {"order_id": "BBY-1001-A", "state": "SHIPPING", "lines": [
        {"sku": "TV-55-OLED", "title": "55in OLED television", "quantity": 1, "price_unit": "1299.99",
         "shipping_price": "25.00", "taxes": [GST, PST], "shipping_taxes": [GST]},
    ]},
    {"order_id": "BBY-1002-A", "state": "SHIPPING", "lines": [
        {"sku": "HDMI-2M", "title": "HDMI cable 2 m", "quantity": 3, "price_unit": "10.00",
         "shipping_price": "6.00", "taxes": [HST], "shipping_taxes": [HST]},
        {"sku": "USB-C-HUB", "title": "USB-C hub", "quantity": 2, "price_unit": "12.99", "taxes": [HST_NONE]},
    ]},
    {"order_id": "BBY-1003-A", "state": "SHIPPING", "lines": [
        {"sku": "AA-BATT-4", "title": "AA batteries, pack of 4", "quantity": 4, "price_unit": "2.81",
         "shipping_price": "3.99", "taxes": [GST, PST], "shipping_taxes": [GST]},
    ]},
    {"order_id": "BBY-1004-A", "state": "SHIPPED", "lines": [
        {"sku": "MOUSE-WL", "title": "Wireless mouse", "quantity": 2, "price_unit": "24.50", "taxes": [HST]},
    ]},
    {"order_id": "BBY-1005-A", "state": "CANCELED", "lines": [
        {"sku": "KB-MECH", "title": "Mechanical keyboard", "quantity": 1, "price_unit": "89.00",
         "taxes": [GST], "state": "CANCELED", "cancelations": [{
             "id": "BBY-1005-A-1-C1", "amount": "89.00", "shipping_amount": "0.00",
             "taxes": [{"amount": "4.45", "code": "GST"}], "shipping_taxes": [], "quantity": 1,
             "reason_code": "22", "created_date": None,
         }]},
    ]},
    {"order_id": "BBY-1006-A", "state": "SHIPPING", "lines": [
        {"sku": "SD-128", "title": "SD card 128 GB", "quantity": 1, "price_unit": "19.99", "taxes": [HST]},
        {"sku": "PHONE-CASE", "title": "Phone case", "quantity": 2, "price_unit": "14.95",
         "shipping_price": "4.99", "taxes": [HST], "shipping_taxes": [HST]},
        {"sku": "SCREEN-PROT", "title": "Screen protector", "quantity": 5, "price_unit": "7.99",
         "taxes": [GST, PST]},
    ]},
    # Not accepted yet (pay on acceptance): a cancel is a refusal of whole lines (OR21).
    {"order_id": "BBY-1007-A", "state": "WAITING_ACCEPTANCE", "payment_workflow": "PAY_ON_ACCEPTANCE", "lines": [
        {"sku": "GAME-CTRL", "title": "Game controller", "quantity": 2, "price_unit": "69.99", "taxes": [HST]},
        {"sku": "CHARGER-65W", "title": "65 W USB-C charger", "quantity": 1, "price_unit": "49.99",
         "taxes": [HST]},
    ]},
    # A line with fees (a card fee and an environmental handling fee), cancelled with the line.
    {"order_id": "BBY-1008-A", "state": "SHIPPING", "lines": [
        {"sku": "LAPTOP-14", "title": "14in laptop", "quantity": 2, "price_unit": "899.00", "taxes": [HST],
         "fees": [{"code": "CARD_FEE", "amount": "9.00"}, {"code": "EHF", "amount": "1.35"}]},
    ]},
]


def orders_seed(seller: SandboxSeller) -> list[SandboxOrder]:
    """The demo orders for ``seller``; idempotent (existing orders are left as they are)."""
    base = timezone.now() - timedelta(hours=len(SEED_ORDERS))
    existing = {o.external_id: o for o in SandboxOrder.objects.filter(seller=seller)}
    result = []
    for i, spec in enumerate(SEED_ORDERS):
        order = existing.get(spec["order_id"]) or order_add(
            seller, order_id=spec["order_id"], lines=spec["lines"], state=spec["state"],
            created_at=base + timedelta(hours=i), payment_workflow=spec.get("payment_workflow", "PAY_ON_DELIVERY"),
        )
        result.append(order)
    return result
