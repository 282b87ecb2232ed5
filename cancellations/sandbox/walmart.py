"""Emulated Walmart marketplace (Canada and US), mounted at ``/sandbox/walmart/``.

Both of Walmart's APIs are served over the same order state:

* legacy CA (``/v3/ca/orders...``, ``walmart_ca`` sellers): signature auth checked with the seller's public key
  over ``request.build_absolute_uri()``; XML (``ns3:`` prefixed orders, unprefixed lists), or JSON when
  ``Accept`` asks for it; cancel bodies XML only, units ``EACH``;
* Global (``/v3/token``, ``/v3/orders...``): client-credentials tokens; ``WM_MARKET`` names the seller's
  market (``ca`` for ``walmart_ca``, ``us`` for ``walmart_us``; absent means ``us``, as Walmart documents);
  JSON, or XML when ``Accept`` asks for it; cancel bodies JSON or XML by ``Content-Type``; units ``EACH`` or
  ``EA``; ``createdStartDate`` optional.

It refuses what Walmart refuses (bad signature or token, missing headers, an unqualified XML root or fields in
another namespace, a reason the market does not support, enumerations in another case, more units than are
still open on a line, a shipped or cancelled line), in Walmart's error shapes: gateway errors (401, 429) as
``{"error": [...]}`` JSON, order API errors as ``<ns2:errors>`` XML or ``{"errors": {"error": [...]}}`` JSON
(the answer's format). It reads and writes the wire with its own code (``walmart_wire``), never the client's.
Requests go through the shared pipeline (``endpoint``: knobs, faults, log) per operation (``token``,
``list_orders``, ``get_order``, ``cancel``).

``SandboxOrder.data`` is this module's own shape (snake_case), rendered to Walmart's on the way out. Amounts
there are 2-dp strings (numbers left by older versions are read the same way, through ``Decimal(str(v))``);
Global JSON answers carry them as exact JSON numbers, written from ``Decimal`` by ``json_dumps_exact``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlencode

from django.db import transaction
from django.http import HttpResponse
from django.urls import path
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from ..jsonexact import json_dumps_exact
from . import state
from . import walmart_wire as ww
from .endpoint import (
    ERROR_METHOD,
    ERROR_RATE_LIMITED,
    ERROR_SERVER,
    ERROR_TIMEOUT,
    ERROR_UNAUTHORIZED,
    Answer,
    Call,
    endpoint,
)
from .models import SandboxCancel, SandboxOrder, SandboxSeller, SandboxToken, secret_digest

MARKETPLACE = "walmart_ca"
#: Sandbox sellers' marketplace -> the Global API's WM_MARKET.
MARKETS = {"walmart_ca": "ca", "walmart_us": "us"}
DEFAULT_MARKET = "us"  # "If WM_MARKET header is missing, the market defaults to 'us'"
LEGACY, GLOBAL, TOKEN = "legacy", "global", "token"
TOKEN_LIFETIME_SECONDS = 900  # Walmart: "expires after 15 minutes"
SIGNATURE_MAX_SKEW = timedelta(minutes=15)
OPEN_STATUSES = ("Created", "Acknowledged")
STATUS_CANCELLED = "Cancelled"
EACH = "EACH"
UNITS = {LEGACY: (EACH,), GLOBAL: (EACH, "EA")}  # the CA spec: "Always use 'EACH'"; Global's enum: EACH | EA
#: Cancellation reasons each market documents (CA: two; US: five).
REASONS = {
    "ca": ("CANCEL_BY_SELLER", "CUSTOMER_REQUESTED_SELLER_TO_CANCEL"),
    "us": ("CUSTOMER_REQUESTED_SELLER_TO_CANCEL", "SELLER_CANCEL_PRICING_ERROR", "SELLER_CANCEL_OUT_OF_STOCK",
           "SELLER_CANCEL_FRAUD_STOP_SHIPMENT", "SELLER_CANCEL_ADDRESS_NOT_SERVICEABLE"),
}
CENT = Decimal("0.01")
XML_TYPE, JSON_TYPE = "application/xml", "application/json"
FOREIGN_REASON = "CUSTOMER_REQUESTED_SELLER_TO_CANCEL"  # a cancel by customer care looks like a seller's


# ------------------------------------------------------------------------------------------ replies


@dataclass(eq=False)
class WalmartReply(Exception):
    """An error answer, raised from anywhere inside a view and rendered in the mode's error format."""

    status: int
    errors: list[dict[str, str]]
    gateway: bool = False  # gateway errors are JSON {"error": [...]} whatever the API
    headers: dict[str, str] = field(default_factory=dict)


def _error(code: str, description: str, *, field_name: str = "", info: str = "", category: str = "DATA") -> dict:
    return {
        "code": code, "field": field_name, "description": description,
        "info": info or "Request content is invalid.", "severity": "ERROR", "category": category,
    }


def reply(status: int, code: str, description: str, *, field_name: str = "", info: str = "",
          gateway: bool = False, headers: Mapping[str, str] | None = None) -> WalmartReply:
    return WalmartReply(
        status=status, errors=[_error(code, description, field_name=field_name, info=info)], gateway=gateway,
        headers=dict(headers or {}),
    )


def _unauthorized(info: str = "Unauthorized token or incorrect authorization header.") -> WalmartReply:
    return reply(401, "UNAUTHORIZED.GMP_GATEWAY_API", "Unauthorized", field_name="UNAUTHORIZED", info=info,
                 gateway=True)


def answers_xml(call: Call) -> bool:
    """The answer's format: the first of XML or JSON that ``Accept`` names, else the API's own."""
    for media in call.request.headers.get("Accept", "").split(","):
        media = media.split(";")[0].strip().lower()
        if media in (XML_TYPE, "text/xml"):
            return True
        if media == JSON_TYPE:
            return False
    return call.mode == LEGACY


def _error_response(call: Call, failure: WalmartReply) -> HttpResponse:
    if failure.gateway or not answers_xml(call):
        payload = {"error": failure.errors} if failure.gateway else {"errors": {"error": failure.errors}}
        response = HttpResponse(json.dumps(payload), status=failure.status, content_type=JSON_TYPE)
    else:
        body = ww.xml_document("errors", {"error": failure.errors}, prefix="ns2", namespaces={"ns2": ww.COMMON_NS})
        response = HttpResponse(body, status=failure.status, content_type=XML_TYPE)
    for name, value in failure.headers.items():
        response[name] = value
    return response


# ------------------------------------------------------------------------------------------ authentication


def _header(call: Call, name: str, *, status: int = 400) -> str:
    value = call.request.headers.get(name, "").strip()
    if not value:
        if status == 401:
            raise _unauthorized(f"Missing header {name}.")
        raise reply(400, "MISSING_REQUEST_HEADER.GMP_ORDER_API", f"{name} set blank or null", field_name=name,
                    info="One or more request headers are missing.")
    return value


def _authenticate_signature(call: Call) -> SandboxSeller:
    consumer_id = _header(call, "WM_CONSUMER.ID", status=401)
    _header(call, "WM_CONSUMER.CHANNEL.TYPE", status=401)
    timestamp = _header(call, "WM_SEC.TIMESTAMP", status=401)
    signature = _header(call, "WM_SEC.AUTH_SIGNATURE", status=401)
    if not timestamp.isdigit():
        raise _unauthorized("WM_SEC.TIMESTAMP must be the epoch time in milliseconds.")
    signed_at = datetime.fromtimestamp(int(timestamp) / 1000, tz=UTC)
    if abs(timezone.now() - signed_at) > SIGNATURE_MAX_SKEW:
        raise _unauthorized("WM_SEC.TIMESTAMP is too far from the current time.")
    seller = (
        SandboxSeller.objects.filter(marketplace=MARKETPLACE, identifier=consumer_id)
        .exclude(public_key_pem="").annotate(**{state.FAULTS_PENDING: state.faults_pending(call.operation)}).first()
    )
    if seller is None or not ww.signature_valid(
        consumer_id=consumer_id, url=call.request.build_absolute_uri(), method=call.request.method or "",
        timestamp=timestamp, signature=signature, public_key=seller.public_key_pem,
    ):
        raise _unauthorized("Invalid WM_SEC.AUTH_SIGNATURE for this consumer id, URL, method and timestamp.")
    return seller


def _authenticate_token(call: Call) -> SandboxSeller:
    token = _header(call, "WM_SEC.ACCESS_TOKEN", status=401)
    found = (
        SandboxToken.objects.select_related("seller")
        .filter(token_sha256=secret_digest(token), expires_at__gt=timezone.now())
        .annotate(**{state.FAULTS_PENDING: state.faults_pending(call.operation)}).first()
    )
    if found is None:
        raise _unauthorized("The access token is invalid or has expired.")
    setattr(found.seller, state.FAULTS_PENDING, getattr(found, state.FAULTS_PENDING))
    market = call.request.headers.get("WM_MARKET", "").strip() or DEFAULT_MARKET
    if market.lower() != MARKETS.get(found.seller.marketplace):
        raise reply(400, "INVALID_REQUEST_HEADER.GMP_ORDER_API",
                    f"WM_MARKET {market!r} is not this seller's market", field_name="WM_MARKET",
                    info="One or more request headers are invalid.")
    return found.seller


def _authenticate_client(call: Call) -> SandboxSeller:
    """Basic base64(client_id:client_secret) on the token endpoint."""
    scheme, _, encoded = call.request.headers.get("Authorization", "").partition(" ")
    try:
        client_id, _, client_secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, ValueError):
        client_id = client_secret = ""
    seller = None
    if scheme.lower() == "basic" and client_id:
        seller = SandboxSeller.objects.filter(marketplace__in=MARKETS, identifier=client_id).exclude(
            secret_sha256=""
        ).annotate(**{state.FAULTS_PENDING: state.faults_pending(call.operation)}).first()
    if seller is None or not hmac.compare_digest(seller.secret_sha256, secret_digest(client_secret)):
        raise _unauthorized(
            'Unauthorized token or incorrect authorization header. Please verify correct format: '
            '"Authorization: Basic Base64Encode(clientId:clientSecret)"'
        )
    return seller


def _authenticate(call: Call) -> SandboxSeller:
    if call.mode == LEGACY:
        seller = _authenticate_signature(call)
    elif call.mode == GLOBAL:
        seller = _authenticate_token(call)
    else:
        seller = _authenticate_client(call)
    _header(call, "WM_QOS.CORRELATION_ID")
    _header(call, "WM_SVC.NAME")
    call.marketplace = seller.marketplace  # faults and the log are per marketplace
    return seller


# ------------------------------------------------------------------------------------------ rendering


def _money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def _wire_tax(taxes: Sequence[Mapping[str, Any]], currency: str) -> dict[str, Any] | None:
    """A charge's ``tax``: one object, as the spec has it. Several taxes on one charge (GST and PST) are
    reported as one, named ``GST+PST``, with their total."""
    if not taxes:
        return None
    return {
        "taxName": "+".join(str(tax["name"]) for tax in taxes),
        "taxAmount": {"currency": currency, "amount": sum((_money(tax["amount"]) for tax in taxes), Decimal("0"))},
    }


def _wire_line(line: Mapping[str, Any], currency: str) -> dict[str, Any]:
    charges = [{
        "chargeType": "PRODUCT", "chargeName": "ItemPrice",
        "chargeAmount": {"currency": currency, "amount": _money(line["unit_price"])},
        "tax": _wire_tax(line.get("taxes", []), currency),
    }]
    if _money(line.get("shipping_price", "0")):
        charges.append({
            "chargeType": "SHIPPING", "chargeName": "Shipping",
            "chargeAmount": {"currency": currency, "amount": _money(line["shipping_price"])},
            "tax": _wire_tax(line.get("shipping_taxes", []), currency),
        })
    statuses = [
        {
            "status": entry["status"],
            "statusQuantity": {"unitOfMeasurement": EACH, "amount": str(entry["quantity"])},
            "cancellationReason": entry.get("reason") or None,
        }
        for entry in line["statuses"]
    ]
    return {
        "lineNumber": str(line["line_number"]),
        "item": {"productName": line.get("title", ""), "sku": line["sku"]},
        "charges": {"charge": charges},
        "orderLineQuantity": {"unitOfMeasurement": EACH, "amount": str(line["quantity"])},
        "statusDate": _parse_instant(line.get("status_date")),
        "orderLineStatuses": {"orderLineStatus": statuses},
        "fulfillment": {"fulfillmentOption": "S2H", "shipMethod": "STANDARD"},
    }


def _parse_instant(value: Any) -> datetime | None:
    return parse_datetime(value) if isinstance(value, str) else value


def _shipping_info(order: SandboxOrder) -> dict[str, Any] | None:
    info = order.data.get("shipping_info")
    if not info:
        return None
    return {  # in the spec's order: phone, estimatedDeliveryDate, estimatedShipDate, methodCode, postalAddress
        "phone": info.get("phone"),
        "estimatedDeliveryDate": order.created_at + timedelta(days=5),
        "estimatedShipDate": order.created_at + timedelta(days=2),
        **{k: v for k, v in info.items() if k != "phone"},
    }


def wire_order(order: SandboxOrder) -> dict[str, Any]:
    """The order in Walmart's field names (amounts Decimal, dates datetime; formats apply their encoding)."""
    data = order.data
    currency = data.get("currency", "CAD")
    return {
        "purchaseOrderId": order.external_id,
        "customerOrderId": data.get("customer_order_id", ""),
        "customerEmailId": data.get("customer_email", ""),
        "orderDate": order.created_at,
        "shippingInfo": _shipping_info(order),
        "orderLines": {"orderLine": [_wire_line(line, currency) for line in data.get("lines", [])]},
    }


def _encoded(value: Any, *, as_json: bool) -> Any:
    """Wire values: XML gets ISO dates and plain decimals; JSON gets epoch-ms dates and numbers."""
    if isinstance(value, Mapping):
        return {k: _encoded(v, as_json=as_json) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_encoded(v, as_json=as_json) for v in value]
    if isinstance(value, datetime):
        if as_json:
            return int(value.timestamp() * 1000)
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, Decimal):
        # Walmart's JSON carries amounts as numbers: the Decimal stays, and json_dumps_exact writes its digits.
        return value if as_json else str(value)
    return value


def _order_response(call: Call, order: SandboxOrder) -> HttpResponse:
    wire = wire_order(order)
    if answers_xml(call):
        body = ww.xml_document("order", _encoded(wire, as_json=False), prefix="ns3")
        return HttpResponse(body, content_type=XML_TYPE)
    return HttpResponse(json_dumps_exact({"order": _encoded(wire, as_json=True)}), content_type=JSON_TYPE)


def _list_response(call: Call, orders: Sequence[SandboxOrder], meta: Mapping[str, Any]) -> HttpResponse:
    content = {"meta": dict(meta), "elements": {"order": [wire_order(o) for o in orders]}}
    if answers_xml(call):
        body = ww.xml_document("list", _encoded(content, as_json=False))
        return HttpResponse(body, content_type=XML_TYPE)
    return HttpResponse(json_dumps_exact({"list": _encoded(content, as_json=True)}), content_type=JSON_TYPE)


# ------------------------------------------------------------------------------------------ views


def token_issue(call: Call) -> HttpResponse:
    grant = call.request.POST.get("grant_type", "")
    if grant != "client_credentials":
        raise reply(400, "INVALID_REQUEST_PARAM.GMP_GATEWAY_API", "grant_type must be client_credentials",
                    field_name="grant_type")
    token = secrets.token_urlsafe(32)
    SandboxToken.objects.create(
        seller=call.seller, token_sha256=secret_digest(token),
        expires_at=timezone.now() + timedelta(seconds=TOKEN_LIFETIME_SECONDS),
    )
    payload = {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME_SECONDS}
    return HttpResponse(json.dumps(payload), content_type=JSON_TYPE)


def _order_or_404(seller: SandboxSeller | None, purchase_order_id: str, *, lock: bool = False) -> SandboxOrder:
    qs = SandboxOrder.objects.filter(seller=seller, external_id=purchase_order_id)
    order = (qs.select_for_update() if lock else qs).first()
    if order is None:
        raise reply(404, "CONTENT_NOT_FOUND.GMP_ORDER_API", f"No order found for purchaseOrderId {purchase_order_id}",
                    field_name="purchaseOrderId", info="Requested content could not be found.")
    return order


def _order_get(call: Call, purchase_order_id: str) -> HttpResponse:
    return _order_response(call, _order_or_404(call.seller, purchase_order_id))


def _date_param(call: Call, name: str, *, required: bool = False) -> datetime | None:
    raw = call.request.GET.get(name, "").strip()
    if not raw:
        if required:
            raise reply(400, "MISSING_REQUEST_PARAM.GMP_ORDER_API", f"{name} is required", field_name=name)
        return None
    parsed = parse_datetime(raw)
    if parsed is None and (day := parse_date(raw)) is not None:
        parsed = datetime(day.year, day.month, day.day)
    if parsed is None:
        raise reply(400, "INVALID_REQUEST_PARAM.GMP_ORDER_API", f"{name} is not a valid date: {raw}", field_name=name)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int_param(call: Call, name: str, default: int, low: int, high: int) -> int:
    raw = call.request.GET.get(name, "")
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise reply(400, "INVALID_REQUEST_PARAM.GMP_ORDER_API", f"{name} must be between {low} and {high}",
                    field_name=name)
    return int(raw)


def _orders_list(call: Call) -> HttpResponse:
    # The CA spec requires createdStartDate; the Global API does not.
    start = _date_param(call, "createdStartDate", required=call.mode == LEGACY) or datetime.min.replace(tzinfo=UTC)
    end = _date_param(call, "createdEndDate") or timezone.now()
    limit = _int_param(call, "limit", 10, 1, 200)
    offset = _int_param(call, "soIndex", 0, 0, 10**9)
    qs = SandboxOrder.objects.filter(seller=call.seller, created_at__gte=start, created_at__lte=end)
    if call.request.GET.get("purchaseOrderId"):
        qs = qs.filter(external_id=call.request.GET["purchaseOrderId"])
    total = qs.count()
    if total == 0:
        raise reply(404, "CONTENT_NOT_FOUND.GMP_ORDER_API", "No orders found for the given criteria",
                    info="Requested content could not be found.")
    orders = list(qs.order_by("created_at", "id")[offset:offset + limit])
    meta: dict[str, Any] = {"totalCount": total, "limit": limit}
    if offset + limit < total:
        # Like Walmart's: a ready-made query string (starting with ?) the client appends verbatim.
        meta["nextCursor"] = "?" + urlencode({
            "limit": limit, "hasMoreElements": "true", "soIndex": offset + limit,
            "poIndex": orders[-1].external_id if orders else "", "sellerId": call.seller.pk if call.seller else "",
            **({"createdStartDate": call.request.GET["createdStartDate"]}
               if call.request.GET.get("createdStartDate") else {}),
            "createdEndDate": _encoded(end, as_json=False),
        }, safe=":")
    return _list_response(call, orders, meta)


def _requested_lines(call: Call) -> list[ww.CancelEntry]:
    # The CA spec defines only XML bodies; the Global API takes JSON or XML.
    accepted = (XML_TYPE,) if call.mode == LEGACY else (JSON_TYPE, XML_TYPE)
    content_type = call.request.content_type or ""
    if content_type not in accepted:
        raise reply(415, "UNSUPPORTED_MEDIA_TYPE.GMP_ORDER_API", f"Content-Type must be {' or '.join(accepted)}",
                    field_name="Content-Type", info="Unsupported media type.")
    try:
        if content_type == XML_TYPE:
            requested = ww.cancel_entries_from_xml(call.request.body)
        else:
            requested = ww.cancel_entries_from_json(call.request.body)
    except ww.CancelBodyError as exc:
        raise reply(400, "INVALID_REQUEST_CONTENT.GMP_ORDER_API", str(exc), field_name=exc.field) from exc
    if not requested:
        raise reply(400, "INVALID_REQUEST_CONTENT.GMP_ORDER_API", "orderLines must list at least one orderLine",
                    field_name="orderLines")
    return requested


def _open_units(line: Mapping[str, Any]) -> int:
    return sum(e["quantity"] for e in line["statuses"] if e["status"] in OPEN_STATUSES)


def _units_in(line: Mapping[str, Any], status: str) -> int:
    return sum(e["quantity"] for e in line["statuses"] if e["status"] == status)


def cancel_problems(data: Mapping[str, Any], requested: Sequence[ww.CancelEntry], *, market: str = "ca",
                    units: Sequence[str] = (EACH,)) -> list[dict[str, str]]:
    """Walmart-shaped errors for a cancel request against one order (empty: it may be applied). Values are
    compared exactly (enumerations are case-sensitive)."""
    reasons = REASONS[market]
    lines = {str(line["line_number"]): line for line in data.get("lines", [])}
    asked: dict[str, int] = {}
    problems = []
    code = "INVALID_REQUEST_CONTENT.GMP_ORDER_API"
    for entry in requested:
        number, line = entry.line_number, lines.get(entry.line_number)
        if line is None:
            problems.append(_error(code, f"Invalid line number {number}: no such order line", field_name="lineNumber"))
        elif entry.status != STATUS_CANCELLED:
            problems.append(_error(code, f"status must be Cancelled in line number {number}", field_name="status"))
        elif entry.reason not in reasons:
            problems.append(_error(code, f"cancellationReason {entry.reason!r} is not supported in line number "
                                   f"{number}; use one of {', '.join(reasons)}", field_name="cancellationReason"))
        elif entry.unit not in units:
            problems.append(_error(code, f"unitOfMeasurement must be {' or '.join(units)} in line number {number}",
                                   field_name="unitOfMeasurement"))
        elif not entry.amount.isdigit() or int(entry.amount) < 1:
            problems.append(_error(code, f"statusQuantity amount must be a positive integer in line number {number}",
                                   field_name="amount"))
        elif _open_units(line) == 0:
            state_name = "shipped" if _units_in(line, "Shipped") else "already cancelled"
            problems.append(_error(code, f"Order line is {state_name} and cannot be cancelled: line number {number}",
                                   field_name="lineNumber"))
        else:
            asked[number] = asked.get(number, 0) + int(entry.amount)
            if asked[number] > _open_units(line):
                problems.append(_error(
                    code, f"Cannot cancel {asked[number]} unit(s): only {_open_units(line)} still cancellable in "
                    f"line number {number}", field_name="amount",
                ))
    return problems


def cancel_apply(data: dict[str, Any], requested: Sequence[ww.CancelEntry], now: datetime) -> None:
    """Move the requested units from the open statuses to Cancelled (validated beforehand)."""
    lines = {str(line["line_number"]): line for line in data["lines"]}
    for entry in requested:
        line, remaining = lines[entry.line_number], int(entry.amount)
        for status_entry in line["statuses"]:
            if status_entry["status"] in OPEN_STATUSES and remaining:
                taken = min(status_entry["quantity"], remaining)
                status_entry["quantity"] -= taken
                remaining -= taken
        line["statuses"] = [e for e in line["statuses"] if e["quantity"] > 0]
        cancelled = next(
            (e for e in line["statuses"] if e["status"] == STATUS_CANCELLED and e.get("reason") == entry.reason),
            None,
        )
        if cancelled is None:
            line["statuses"].append({"status": STATUS_CANCELLED, "quantity": 0, "reason": entry.reason})
            cancelled = line["statuses"][-1]
        cancelled["quantity"] += int(entry.amount)
        line["status_date"] = now.isoformat()


def _order_cancel(call: Call, purchase_order_id: str) -> HttpResponse:
    requested = _requested_lines(call)
    with transaction.atomic():
        order = _order_or_404(call.seller, purchase_order_id, lock=True)
        problems = cancel_problems(order.data, requested, market=MARKETS[call.seller.marketplace],
                                   units=UNITS[call.mode])
        if problems:
            raise WalmartReply(status=400, errors=problems)
        now = timezone.now()
        cancel_apply(order.data, requested, now)
        state.cancels_record([
            state.cancel_row(seller_id=order.seller_id, order_id=purchase_order_id, line_id=entry.line_number,
                             quantity=int(entry.amount), reason_code=entry.reason, operation=call.operation,
                             request_id=call.request_id)
            for entry in requested
        ])
        order.updated_at = now
        order.save(update_fields=["data", "updated_at"])
    return _order_response(call, order)


# ------------------------------------------------------------------------------------------ the emulator


class WalmartEmulator:
    """Walmart's side of the shared pipeline (``endpoint``): auth per mode, error shapes, requested lines."""

    marketplace = MARKETPLACE

    def authenticate(self, call: Call) -> SandboxSeller:
        try:
            return _authenticate(call)
        except WalmartReply as failure:
            raise Answer(_error_response(call, failure)) from None

    def error(self, call: Call, status: int, kind: str, message: str,
              headers: Mapping[str, str] | None = None) -> HttpResponse:
        if kind == ERROR_UNAUTHORIZED:
            failure = _unauthorized()
        else:
            code, info, gateway = _STANDARD_ERRORS[kind]
            failure = reply(status, code, message, info=info, gateway=gateway)
        failure.headers.update(headers or {})
        return _error_response(call, failure)

    def line_rejected(self, call: Call, line_id: str, code: str, message: str) -> HttpResponse:
        failure = reply(400, code or "INVALID_REQUEST_CONTENT.GMP_ORDER_API", f"{message} in line number {line_id}",
                        field_name="lineNumber")
        return _error_response(call, failure)

    def requested_lines(self, call: Call) -> list[tuple[str, str, int]]:
        try:
            requested = _requested_lines(call)
        except WalmartReply:
            return []
        order_id = str(call.kwargs.get("purchase_order_id", ""))
        return [(order_id, r.line_number, int(r.amount) if r.amount.isdigit() else 0) for r in requested]

    def foreign_cancel(self, seller: SandboxSeller, order_id: str, line_id: str, quantity: int,
                       reason: str = "") -> int:
        return foreign_cancel(seller, order_id, line_id, quantity, reason=reason)

    def finish(self, call: Call, response: HttpResponse) -> None:
        correlation_id = call.request.headers.get("WM_QOS.CORRELATION_ID")
        if correlation_id:
            response["WM_QOS.CORRELATION_ID"] = correlation_id


_STANDARD_ERRORS = {  # kind -> (code, info, gateway)
    ERROR_METHOD: ("METHOD_NOT_ALLOWED.GMP_GATEWAY_API", "Method not allowed.", True),
    ERROR_RATE_LIMITED: ("REQUEST_THRESHOLD_VIOLATED.GMP_GATEWAY_API", "Too many requests; retry later.", True),
    ERROR_SERVER: ("SYSTEM_ERROR.GMP_ORDER_API", "System encountered an error.", False),
    ERROR_TIMEOUT: ("DOWNSTREAM_SYSTEM_TIME_OUT.GMP_ORDER_API", "Gateway timeout.", False),
}
EMULATOR = WalmartEmulator()


def _view(mode: str, operation: str, method: str, handler: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    def handle(call: Call, **kwargs: Any) -> HttpResponse:
        try:
            return handler(call, **kwargs)
        except WalmartReply as failure:
            return _error_response(call, failure)

    return endpoint(EMULATOR, operation, method, handle, mode=mode)


def foreign_cancel(seller: SandboxSeller, order_id: str, line_id: str, quantity: int = 1, *,
                   reason: str = "") -> int:
    """Someone else (Walmart, customer care) cancels up to ``quantity`` open units of a line; recorded in
    ``SandboxCancel`` with source ``foreign``. Returns the units cancelled."""
    with transaction.atomic():
        order = SandboxOrder.objects.select_for_update().filter(seller=seller, external_id=order_id).first()
        line = next((ln for ln in (order.data.get("lines", []) if order else [])
                     if str(ln["line_number"]) == line_id), None)
        units = min(quantity, _open_units(line)) if line else 0
        if order is None or units <= 0:
            return 0
        reason = reason or FOREIGN_REASON
        now = timezone.now()
        cancel_apply(order.data, [ww.CancelEntry(line_id, STATUS_CANCELLED, reason, EACH, str(units))], now)
        state.cancel_record(seller_id=seller.pk, order_id=order_id, line_id=line_id, quantity=units, reason_code=reason,
                            operation="foreign_cancel", source=SandboxCancel.FOREIGN)
        order.updated_at = now
        order.save(update_fields=["data", "updated_at"])
    return units


token_issue_view = _view(TOKEN, "token", "POST", token_issue)
legacy_orders = _view(LEGACY, "list_orders", "GET", _orders_list)
legacy_order = _view(LEGACY, "get_order", "GET", _order_get)
legacy_cancel = _view(LEGACY, "cancel", "POST", _order_cancel)
global_orders = _view(GLOBAL, "list_orders", "GET", _orders_list)
global_order = _view(GLOBAL, "get_order", "GET", _order_get)
global_cancel = _view(GLOBAL, "cancel", "POST", _order_cancel)

urlpatterns = [
    path("v3/token", token_issue_view, name="sandbox-walmart-token"),
    path("v3/ca/orders", legacy_orders, name="sandbox-walmart-ca-orders"),
    path("v3/ca/orders/<str:purchase_order_id>", legacy_order, name="sandbox-walmart-ca-order"),
    path("v3/ca/orders/<str:purchase_order_id>/cancel", legacy_cancel, name="sandbox-walmart-ca-cancel"),
    path("v3/orders", global_orders, name="sandbox-walmart-orders"),
    path("v3/orders/<str:purchase_order_id>", global_order, name="sandbox-walmart-order"),
    path("v3/orders/<str:purchase_order_id>/cancel", global_cancel, name="sandbox-walmart-cancel"),
]


# ------------------------------------------------------------------------------------------ seed data

TAX_RATES: dict[str, tuple[tuple[str, Decimal, bool], ...]] = {
    # province: (tax name, rate, applies to shipping)
    "ON": (("HST", Decimal("0.13"), True),),
    "NS": (("HST", Decimal("0.14"), True),),
    "AB": (("GST", Decimal("0.05"), True),),
    "BC": (("GST", Decimal("0.05"), True), ("PST", Decimal("0.07"), False)),
    "MB": (("GST", Decimal("0.05"), True), ("PST", Decimal("0.07"), False)),
    # US states (walmart_us sellers): one sales tax
    "CA": (("SalesTax", Decimal("0.0725"), False),),
    "TX": (("SalesTax", Decimal("0.0625"), True),),
    "NY": (("SalesTax", Decimal("0.04"), True),),
    "WA": (("SalesTax", Decimal("0.065"), True),),
    "IL": (("SalesTax", Decimal("0.0625"), False),),
}
#: The seed's provinces mapped to US states for a walmart_us seller.
US_STATE_FOR = {"ON": "CA", "NS": "NY", "AB": "TX", "BC": "WA", "MB": "IL"}
ADDRESSES = {
    "ON": ("Toronto", "M5V 2T6", "290 Bremner Blvd"),
    "NS": ("Halifax", "B3H 1A1", "1800 Argyle St"),
    "AB": ("Calgary", "T2P 2M5", "101 9 Ave SW"),
    "BC": ("Vancouver", "V6B 1A1", "800 Robson St"),
    "MB": ("Winnipeg", "R3C 4T3", "1 Portage Ave E"),
    "CA": ("Sunnyvale", "94086", "860 W California Ave"),
    "TX": ("Austin", "78701", "100 Congress Ave"),
    "NY": ("Albany", "12207", "1 State St"),
    "WA": ("Seattle", "98101", "400 Pine St"),
    "IL": ("Chicago", "60601", "100 E Randolph St"),
}


def _line_data(number: int, spec: Mapping[str, Any], province: str, now: datetime) -> dict[str, Any]:
    quantity = int(spec["quantity"])
    unit = _money(spec["unit_price"])
    shipping = _money(spec.get("shipping_price", "0"))
    rates = TAX_RATES[province]
    status = spec.get("status", "Acknowledged")
    cancelled = int(spec.get("cancelled", 0)) if status != STATUS_CANCELLED else quantity
    shipped = int(spec.get("shipped", 0))  # units of an otherwise open line already shipped
    statuses = []
    if quantity - cancelled - shipped:
        statuses.append({"status": status, "quantity": quantity - cancelled - shipped, "reason": ""})
    if shipped:
        statuses.append({"status": "Shipped", "quantity": shipped, "reason": ""})
    if cancelled:
        statuses.append({"status": STATUS_CANCELLED, "quantity": cancelled,
                         "reason": spec.get("reason", "CUSTOMER_REQUESTED_SELLER_TO_CANCEL")})
    return {
        "line_number": str(spec.get("line_number", number)),
        "sku": spec["sku"],
        "title": spec.get("title", spec["sku"]),
        "quantity": quantity,
        "unit_price": str(unit),
        "shipping_price": str(shipping),
        "taxes": [{"name": n, "amount": str(_money(unit * quantity * r))} for n, r, _ in rates],
        "shipping_taxes": [{"name": n, "amount": str(_money(shipping * r))} for n, r, s in rates if s and shipping],
        "statuses": statuses,
        "status_date": now.isoformat(),
    }


def _order_data(purchase_order_id: str, lines: Sequence[Mapping[str, Any]], province: str,
                now: datetime) -> dict[str, Any]:
    city, postal_code, street = ADDRESSES[province]
    us = province not in US_STATE_FOR
    return {
        "customer_order_id": f"C{purchase_order_id[-9:]}",
        "customer_email": f"{purchase_order_id}@relay.walmart.ca",
        "currency": "USD" if us else "CAD",
        "shipping_info": {
            "phone": "4165550100", "methodCode": "Standard",
            "postalAddress": {
                "name": "Sandbox Customer", "address1": street, "city": city, "state": province,
                "postalCode": postal_code, "country": "USA" if us else "CAN", "addressType": "RESIDENTIAL",
            },
        },
        "lines": [_line_data(i, spec, province, now) for i, spec in enumerate(lines, start=1)],
    }


def order_add(seller: SandboxSeller, *, purchase_order_id: str, lines: Sequence[Mapping[str, Any]],
              province: str = "ON", created_at: datetime | None = None) -> SandboxOrder:
    """Create (or reset) one order. A line: {"sku", "quantity", "unit_price", "status"} plus optional
    "title", "shipping_price", "cancelled" (units already cancelled), "shipped" (units already shipped),
    "reason", "line_number"."""
    now = timezone.now()
    order, _ = SandboxOrder.objects.update_or_create(
        seller=seller, external_id=purchase_order_id,
        defaults={"data": _order_data(purchase_order_id, lines, province, now),
                  "created_at": created_at or now, "updated_at": now},
    )
    return order


SEED_ORDERS: tuple[tuple[str, str, int, tuple[dict[str, Any], ...]], ...] = (
    # (purchase order id, province, hours ago, lines)
    ("5801000000011", "ON", 72, (
        {"sku": "WM-KETTLE-17", "title": "Electric kettle 1.7 L", "quantity": 1, "unit_price": "49.99",
         "shipping_price": "7.99"},
    )),
    ("5801000000022", "BC", 60, (
        {"sku": "WM-TOWEL-BATH", "title": "Bath towel, cotton", "quantity": 4, "unit_price": "12.49"},
        {"sku": "WM-MUG-350", "title": "Ceramic mug 350 ml", "quantity": 6, "unit_price": "6.99",
         "shipping_price": "9.99"},
        {"sku": "WM-LAMP-DESK", "title": "LED desk lamp", "quantity": 1, "unit_price": "34.00"},
    )),
    ("5801000000033", "AB", 48, (
        {"sku": "WM-BOOTS-W9", "title": "Winter boots, women 9", "quantity": 2, "unit_price": "89.95",
         "status": "Created", "shipping_price": "12.00"},
        {"sku": "WM-SOCKS-3PK", "title": "Wool socks, 3 pack", "quantity": 3, "unit_price": "14.99",
         "status": "Created"},
    )),
    ("5801000000044", "NS", 36, (
        {"sku": "WM-BLENDER-600", "title": "Blender 600 W", "quantity": 1, "unit_price": "79.00",
         "status": "Shipped", "shipping_price": "10.00"},
    )),
    ("5801000000055", "ON", 30, (
        {"sku": "WM-PUZZLE-1000", "title": "Jigsaw puzzle, 1000 pieces", "quantity": 2, "unit_price": "19.99",
         "status": STATUS_CANCELLED, "reason": "CUSTOMER_REQUESTED_SELLER_TO_CANCEL"},
    )),
    ("5801000000066", "MB", 24, (
        {"sku": "WM-PAN-28", "title": "Frying pan 28 cm", "quantity": 3, "unit_price": "29.99", "cancelled": 1,
         "reason": "CANCEL_BY_SELLER", "shipping_price": "8.50"},
        {"sku": "WM-SPATULA", "title": "Silicone spatula", "quantity": 2, "unit_price": "7.49"},
    )),
    ("5801000000077", "ON", 12, (
        {"sku": "WM-HEADPH-BT", "title": "Bluetooth headphones", "quantity": 1, "unit_price": "129.99"},
        {"sku": "WM-CABLE-USBC", "title": "USB-C cable 2 m", "quantity": 2, "unit_price": "11.99",
         "status": "Shipped"},
    )),
)


def orders_seed(seller: SandboxSeller) -> list[SandboxOrder]:
    """A realistic, idempotent set of orders for this seller: single- and multi-line, multi-unit lines,
    shipping charges, one order Shipped, one Cancelled, one partly cancelled, one partly shipped. CAD with
    GST/HST/PST for ``walmart_ca``; USD with a state sales tax and US reasons for ``walmart_us``. Ids are
    stable: a re-run returns the existing orders unchanged (their state is kept)."""
    now = timezone.now()
    orders = []
    us = seller.marketplace == "walmart_us"
    for purchase_order_id, province, hours_ago, lines in SEED_ORDERS:
        if us:
            province = US_STATE_FOR[province]
            lines = tuple({**ln, "reason": "SELLER_CANCEL_OUT_OF_STOCK"} if ln.get("reason") == "CANCEL_BY_SELLER"
                          else ln for ln in lines)
        created = now - timedelta(hours=hours_ago)
        order, _ = SandboxOrder.objects.get_or_create(
            seller=seller, external_id=purchase_order_id,
            defaults={"data": _order_data(purchase_order_id, lines, province, created),
                      "created_at": created, "updated_at": created},
        )
        orders.append(order)
    return orders
