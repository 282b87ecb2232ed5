"""Walmart order payloads: the cancel body, and readers for orders, order lists and error bodies.

Both wire formats are handled here: XML for the legacy CA API and JSON for the Global API. XML is first
turned into the same nested dicts the JSON uses (namespaces dropped, repeated elements as lists), so one
normaliser reads both. Single-order answers use ``ns3:`` prefixes while list answers are unprefixed, so
nothing here depends on prefixes or namespaces, except the check of a cancel body's root (which Walmart
enforces). XML is parsed with defusedxml: no DTDs, no entity expansion.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape, quoteattr

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from ..base import LineCancel, LineTax, MarketplaceOrder, MarketplaceOrderLine

ORDERS_NS = "http://walmart.com/mp/v3/orders"
LEGACY_ORDERS_NS = "http://walmart.com/mp/orders"
COMMON_NS = "http://walmart.com/"
#: Namespaces Walmart accepts on the ``orderCancellation`` root (an unqualified root is refused).
CANCEL_NAMESPACES = (ORDERS_NS, LEGACY_ORDERS_NS)
STATUS_CANCELLED = "Cancelled"
OPEN_STATUSES = frozenset({"created", "acknowledged"})  # units a seller may still cancel
UNIT_EACH = "EACH"
TAX_MODE = "TAX_EXCLUDED"  # Walmart lists taxes beside the charges they apply to
DEFAULT_CURRENCY = "CAD"
# Order-level status when lines differ: the least advanced line wins (an order is Cancelled only when every
# line is). Walmart itself has no order-level status; this keeps the back-office list readable.
_STATUS_PRECEDENCE = ("Created", "Acknowledged", "Shipped", "Delivered", "Refund", "Cancelled")


class WalmartPayloadError(ValueError):
    """A body that is not the XML/JSON we expect (the message is safe to show)."""


@dataclass(frozen=True)
class WalmartError:
    code: str
    field: str = ""
    description: str = ""
    info: str = ""

    @property
    def message(self) -> str:
        return self.description or self.info or self.code

    @property
    def line_number(self) -> str:
        """The order line the description names ("... in line number 2"), or "".

        XML parser errors also say "lineNumber: 2" about the request document, not an order line.
        """
        text = self.description
        if not text or "SAXParseException" in text or "columnNumber" in text:
            return ""
        match = _LINE_NAMED.search(text)
        return match.group(1) if match else ""


_LINE_NAMED = re.compile(r"\bline\s*number\b\s*[:#=]?\s*([A-Za-z0-9-]+)", re.IGNORECASE)


@dataclass(frozen=True)
class OrdersPage:
    orders: list[MarketplaceOrder]
    next_cursor: str = ""
    total_count: int | None = None


@dataclass(frozen=True)
class RequestedCancel:
    """One ``orderLineStatus`` of a cancel request, as sent (the sandbox validates it)."""

    line_number: str
    status: str
    reason: str
    unit: str
    amount: str


# ------------------------------------------------------------------------------------------- writing


def xml_render(root: str, data: Mapping[str, Any], *, prefix: str = "", namespaces: Mapping[str, str] = {}) -> str:
    """Nested dicts to indented XML: a list value repeats its element, None is left out.

    ``namespaces`` maps prefixes ("" for the default namespace) to URIs, declared on the root;
    ``prefix`` qualifies every element.
    """
    declarations = "".join(
        f" xmlns{':' + p if p else ''}={quoteattr(uri)}" for p, uri in namespaces.items()
    )
    tag = f"{prefix}:{root}" if prefix else root
    out = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>', f"<{tag}{declarations}>"]
    _render_children(out, data, prefix, 1)
    out.append(f"</{tag}>")
    return "\n".join(out) + "\n"


def _render_children(out: list[str], data: Mapping[str, Any], prefix: str, depth: int) -> None:
    pad = "    " * depth
    for name, value in data.items():
        tag = f"{prefix}:{name}" if prefix else name
        for item in value if isinstance(value, list | tuple) else [value]:
            if item is None:
                continue
            if isinstance(item, Mapping):
                out.append(f"{pad}<{tag}>")
                _render_children(out, item, prefix, depth + 1)
                out.append(f"{pad}</{tag}>")
            else:
                text = ("true" if item else "false") if isinstance(item, bool) else str(item)
                out.append(f"{pad}<{tag}>{escape(text)}</{tag}>")


def cancel_data(lines: Sequence[LineCancel]) -> dict[str, Any]:
    """The ``orderLines`` part of a cancel request: one ``orderLine`` per line, amount = units to cancel."""
    return {
        "orderLines": {
            "orderLine": [
                {
                    "lineNumber": line.line_id,
                    "orderLineStatuses": {
                        "orderLineStatus": [
                            {
                                "status": STATUS_CANCELLED,
                                "cancellationReason": line.reason_code,
                                "statusQuantity": {"unitOfMeasurement": UNIT_EACH, "amount": str(line.quantity)},
                            }
                        ]
                    },
                }
                for line in lines
            ]
        }
    }


def cancel_body_xml(lines: Sequence[LineCancel]) -> str:
    """Legacy CA cancel body: root ``orderCancellation`` in the v3 orders default namespace."""
    return xml_render("orderCancellation", cancel_data(lines), namespaces={"": ORDERS_NS})


def cancel_body_json(lines: Sequence[LineCancel]) -> str:
    """Global API cancel body."""
    return json.dumps({"orderCancellation": cancel_data(lines)}, indent=2)


# ------------------------------------------------------------------------------------------- reading


def _text(body: str | bytes) -> str:
    if isinstance(body, bytes):
        body = body.decode("utf-8-sig", errors="replace")
    return body.lstrip("\ufeff").strip()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _element_data(element: Element) -> Any:
    children = list(element)
    if not children:
        return (element.text or "").strip()
    data: dict[str, Any] = {}
    for child in children:
        name, value = _local(child.tag), _element_data(child)
        if name not in data:
            data[name] = value
        elif isinstance(data[name], list):
            data[name].append(value)
        else:
            data[name] = [data[name], value]
    return data


def xml_parse(body: str | bytes) -> tuple[str, Any]:
    """(qualified root tag, nested data) of an XML document, with DTDs and entities refused."""
    try:
        root = fromstring(_text(body), forbid_dtd=True)
    except (ParseError, DefusedXmlException) as exc:
        raise WalmartPayloadError(f"Unreadable XML: {exc}") from exc
    return root.tag, _element_data(root)


def json_parse(body: str | bytes) -> Any:
    """JSON with numbers kept as text, so amounts become exact Decimals (never floats)."""
    try:
        return json.loads(_text(body), parse_float=str)
    except ValueError as exc:
        raise WalmartPayloadError(f"Unreadable JSON: {exc}") from exc


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _dig(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _decimal(value: Any) -> Decimal:
    if value is None or value == "":
        return Decimal("0")
    try:
        return Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise WalmartPayloadError(f"Not an amount: {value!r}") from exc


def _int(value: Any) -> int:
    return int(_decimal(value))


def _datetime(value: Any) -> datetime | None:
    """Walmart dates: ISO 8601 in XML, epoch milliseconds in JSON."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        ms = int(text)
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _taxes_add(totals: dict[str, Decimal], taxes: Any) -> None:
    for tax in _as_list(taxes):
        if isinstance(tax, Mapping):
            code = str(tax.get("taxName") or "TAX")
            totals[code] = totals.get(code, Decimal("0")) + _decimal(_dig(tax, "taxAmount", "amount"))


def _line_statuses(line: Mapping[str, Any]) -> list[tuple[str, int]]:
    return [
        (str(entry.get("status") or ""), _int(_dig(entry, "statusQuantity", "amount")))
        for entry in _as_list(_dig(line, "orderLineStatuses", "orderLineStatus"))
        if isinstance(entry, Mapping)
    ]


def _dominant_status(statuses: Iterable[tuple[str, int]]) -> str:
    """The status holding most units; on a tie, a status other than Cancelled (units still alive)."""
    totals: dict[str, int] = {}
    for status, quantity in statuses:
        totals[status] = totals.get(status, 0) + quantity
    if not totals:
        return ""
    return max(totals, key=lambda s: (totals[s], s.lower() != STATUS_CANCELLED.lower()))


def line_from_data(line: Mapping[str, Any]) -> MarketplaceOrderLine:
    quantity = _int(_dig(line, "orderLineQuantity", "amount"))
    unit_price, shipping_price = Decimal("0"), Decimal("0")
    taxes: dict[str, Decimal] = {}
    shipping_taxes: dict[str, Decimal] = {}
    for charge in _as_list(_dig(line, "charges", "charge")):
        if not isinstance(charge, Mapping):
            continue
        kind = str(charge.get("chargeType") or "").upper()
        amount = _decimal(_dig(charge, "chargeAmount", "amount"))
        if kind == "PRODUCT":
            unit_price += amount
            _taxes_add(taxes, charge.get("tax"))
        elif kind == "SHIPPING":
            shipping_price += amount
            _taxes_add(shipping_taxes, charge.get("tax"))
    statuses = _line_statuses(line)
    return MarketplaceOrderLine(
        external_id=str(line.get("lineNumber") or ""),
        sku=str(_dig(line, "item", "sku") or ""),
        title=str(_dig(line, "item", "productName") or ""),
        quantity=quantity,
        unit_price=unit_price,
        price=unit_price * quantity,
        shipping_price=shipping_price,
        status=_dominant_status(statuses),
        cancelled_quantity=sum(q for s, q in statuses if s.lower() == STATUS_CANCELLED.lower()),
        taxes=tuple(LineTax(code=c, amount=a) for c, a in taxes.items()),
        shipping_taxes=tuple(LineTax(code=c, amount=a) for c, a in shipping_taxes.items()),
        raw=dict(line),
        open_quantity=sum(q for s, q in statuses if s.lower() in OPEN_STATUSES),
    )


def _currency(order: Mapping[str, Any], default: str) -> str:
    for line in _as_list(_dig(order, "orderLines", "orderLine")):
        for charge in _as_list(_dig(line, "charges", "charge")):
            currency = _dig(charge, "chargeAmount", "currency")
            if currency:
                return str(currency)
    return default


def _order_status(lines: Sequence[MarketplaceOrderLine]) -> str:
    statuses = {line.status for line in lines if line.status}
    if len(statuses) <= 1:
        return statuses.pop() if statuses else ""
    ranked = {s.lower(): i for i, s in enumerate(_STATUS_PRECEDENCE)}
    return min(statuses, key=lambda s: ranked.get(s.lower(), -1))


def order_from_data(data: Mapping[str, Any], *, currency: str = DEFAULT_CURRENCY) -> MarketplaceOrder:
    """One order from its nested-dict form (``{"order": {...}}`` or the order itself)."""
    order = data if "purchaseOrderId" in data else data.get("order")
    if not isinstance(order, Mapping) or not order.get("purchaseOrderId"):
        raise WalmartPayloadError("No purchaseOrderId in the order")
    lines = tuple(
        line_from_data(line) for line in _as_list(_dig(order, "orderLines", "orderLine")) if isinstance(line, Mapping)
    )
    return MarketplaceOrder(
        external_id=str(order["purchaseOrderId"]),
        customer_order_id=str(order.get("customerOrderId") or ""),
        status=_order_status(lines),
        currency=_currency(order, currency),
        ordered_at=_datetime(order.get("orderDate")),
        tax_mode=TAX_MODE,
        lines=lines,
        raw=dict(order),
    )


def orders_page_from_data(data: Mapping[str, Any], *, currency: str = DEFAULT_CURRENCY) -> OrdersPage:
    """A page of ``list`` (``{"list": {...}}`` or its content): ``meta.nextCursor`` and ``elements.order``."""
    content = data.get("list", data) if isinstance(data, Mapping) else {}
    if not isinstance(content, Mapping):
        raise WalmartPayloadError("Not an order list")
    meta = content.get("meta") if isinstance(content.get("meta"), Mapping) else {}
    total = meta.get("totalCount")
    return OrdersPage(
        orders=[order_from_data(o, currency=currency) for o in _as_list(_dig(content, "elements", "order"))
                if isinstance(o, Mapping)],
        next_cursor=str(meta.get("nextCursor") or "").strip(),
        total_count=_int(total) if total not in (None, "") else None,
    )


def order_from_xml(body: str | bytes) -> MarketplaceOrder:
    tag, data = xml_parse(body)
    if _local(tag) != "order" or not isinstance(data, Mapping):
        raise WalmartPayloadError(f"Expected an order, got <{_local(tag)}>")
    return order_from_data(data)


def orders_page_from_xml(body: str | bytes) -> OrdersPage:
    tag, data = xml_parse(body)
    if _local(tag) != "list" or not isinstance(data, Mapping):
        raise WalmartPayloadError(f"Expected an order list, got <{_local(tag)}>")
    return orders_page_from_data(data)


def order_from_json(body: str | bytes, *, currency: str = DEFAULT_CURRENCY) -> MarketplaceOrder:
    """``currency``: the market's, for an order whose charges name none."""
    data = json_parse(body)
    if not isinstance(data, Mapping):
        raise WalmartPayloadError("Expected a JSON object")
    return order_from_data(data, currency=currency)


def orders_page_from_json(body: str | bytes, *, currency: str = DEFAULT_CURRENCY) -> OrdersPage:
    data = json_parse(body)
    if not isinstance(data, Mapping):
        raise WalmartPayloadError("Expected a JSON object")
    return orders_page_from_data(data, currency=currency)


# ------------------------------------------------------------------------------------------- errors


def _error(item: Any, context: Mapping[str, Any]) -> WalmartError | None:
    if isinstance(item, Mapping):
        return WalmartError(
            code=str(item.get("code") or ""),
            field=str(item.get("field") or ""),
            description=str(item.get("description") or ""),
            info=str(item.get("info") or ""),
        )
    if isinstance(item, str) and item:  # OAuth style: {"error": "invalid_client", "error_description": ...}
        return WalmartError(code=item, description=str(context.get("error_description") or ""))
    return None


def _error_items(data: Any) -> list[Any]:
    if isinstance(data, list):
        return data
    if not isinstance(data, Mapping):
        return []
    if "errors" in data:
        errors = data["errors"]
        return _as_list(errors.get("error")) if isinstance(errors, Mapping) else _as_list(errors)
    if "error" in data:
        return _as_list(data["error"])
    return []


def errors_from_body(body: str | bytes) -> list[WalmartError]:
    """Walmart errors from an XML or JSON body: ``errors.error[]``, ``error[]`` or an ``<errors>`` root."""
    text = _text(body)
    try:
        if text.startswith("<"):
            tag, data = xml_parse(text)
            root = _local(tag)
            if root == "errors":
                items = _as_list(data.get("error")) if isinstance(data, Mapping) else []
            elif root == "error":
                items = [data]
            else:
                items = []
            context: Mapping[str, Any] = {}
        elif text.startswith(("{", "[")):
            data = json_parse(text)
            items, context = _error_items(data), data if isinstance(data, Mapping) else {}
        else:
            return []
    except WalmartPayloadError:
        return []
    return [e for e in (_error(item, context) for item in items) if e is not None]


# ---------------------------------------------------------------------------------- cancel requests


def _requested(data: Mapping[str, Any]) -> list[RequestedCancel]:
    requested = []
    for line in _as_list(_dig(data, "orderLines", "orderLine")):
        if not isinstance(line, Mapping):
            continue
        for entry in _as_list(_dig(line, "orderLineStatuses", "orderLineStatus")):
            if isinstance(entry, Mapping):
                requested.append(
                    RequestedCancel(
                        line_number=str(line.get("lineNumber") or ""),
                        status=str(entry.get("status") or ""),
                        reason=str(entry.get("cancellationReason") or ""),
                        unit=str(_dig(entry, "statusQuantity", "unitOfMeasurement") or ""),
                        amount=str(_dig(entry, "statusQuantity", "amount") or ""),
                    )
                )
    return requested


def cancel_request_from_xml(body: str | bytes) -> list[RequestedCancel]:
    """Read a legacy cancel body; the root must be ``orderCancellation`` in an orders namespace."""
    tag, data = xml_parse(body)
    if _local(tag) != "orderCancellation" or _namespace(tag) not in CANCEL_NAMESPACES:
        expected = ",".join(f"<{{{ns}}}orderCancellation>" for ns in CANCEL_NAMESPACES)
        raise WalmartPayloadError(
            f'unexpected element (uri:"{_namespace(tag)}", local:"{_local(tag)}"). Expected elements are {expected}'
        )
    return _requested(data if isinstance(data, Mapping) else {})


def cancel_request_from_json(body: str | bytes) -> list[RequestedCancel]:
    data = json_parse(body)
    content = data.get("orderCancellation") if isinstance(data, Mapping) else None
    if not isinstance(content, Mapping):
        raise WalmartPayloadError("Expected an orderCancellation object")
    return _requested(content)
