"""Walmart payloads: the cancel body against Walmart's sample, and the readers on Walmart's own samples."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from xml.etree.ElementTree import Element

import pytest
from defusedxml.ElementTree import fromstring

from cancellations.marketplaces.base import LineCancel, LineTax
from cancellations.marketplaces.walmart_ca import codec as wx

FIXTURES = Path("/work/shared/fixtures/walmart_ca")


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _shape(element: Element) -> tuple:
    """Tag (with namespace), stripped text and children, recursively: the comparable shape of a document."""
    return (element.tag, (element.text or "").strip(), tuple(_shape(child) for child in element))


def _line(line_id: str, quantity: int = 1, reason: str = "CUSTOMER_REQUESTED_SELLER_TO_CANCEL") -> LineCancel:
    return LineCancel(ref=int(line_id), order_id="PO-1", line_id=line_id, quantity=quantity, reason_code=reason)


# --------------------------------------------------------------------------------------- cancel body


def test_cancel_xml_matches_walmart_sample_shape():
    built = fromstring(wx.cancel_body_xml([_line("1")]))
    sample = fromstring(_fixture("ca_cancel_request.xml"))
    assert built.tag == "{http://walmart.com/mp/v3/orders}orderCancellation"
    assert _shape(built) == _shape(sample)


def test_cancel_xml_uses_default_namespace_and_one_order_line_per_line():
    body = wx.cancel_body_xml([_line("1", 2), _line("3", 1, "CANCEL_BY_SELLER")])
    assert '<orderCancellation xmlns="http://walmart.com/mp/v3/orders">' in body
    requested = wx.cancel_request_from_xml(body)
    assert requested == [
        wx.RequestedCancel("1", "Cancelled", "CUSTOMER_REQUESTED_SELLER_TO_CANCEL", "EACH", "2"),
        wx.RequestedCancel("3", "Cancelled", "CANCEL_BY_SELLER", "EACH", "1"),
    ]


def test_cancel_xml_escapes_text():
    body = wx.cancel_body_xml([LineCancel(ref=1, order_id="PO", line_id="1<&>", quantity=1, reason_code="R&D")])
    assert wx.cancel_request_from_xml(body)[0].line_number == "1<&>"


def test_cancel_json_matches_walmart_us_sample_structure():
    built = json.loads(wx.cancel_body_json([_line("1")]))
    sample = json.loads(_fixture("us_cancel_request.json"))
    # Same structure; Walmart CA wants EACH where the US JSON sample shows EA.
    sample["orderCancellation"]["orderLines"]["orderLine"][0]["orderLineStatuses"]["orderLineStatus"][0][
        "statusQuantity"]["unitOfMeasurement"] = "EACH"
    assert built == sample


def test_cancel_request_readers_accept_walmart_samples_and_refuse_unqualified_root():
    dotnet = wx.cancel_request_from_xml(_fixture("walmartlabs_dotnet_v3_cancel_request.xml"))  # BOM + ns2 prefix
    assert dotnet == [wx.RequestedCancel("1", "Cancelled", "CANCEL_BY_SELLER", "EACH", "1")]
    assert wx.cancel_request_from_json(_fixture("us_cancel_request.json"))[0].unit == "EA"
    unqualified = _fixture("ca_cancel_request.xml").replace(b' xmlns="http://walmart.com/mp/v3/orders"', b"")
    with pytest.raises(wx.WalmartPayloadError, match='uri:"", local:"orderCancellation"'):
        wx.cancel_request_from_xml(unqualified)


# ------------------------------------------------------------------------------------------- orders


def test_cancel_response_order_reads_lines_statuses_and_money():
    order = wx.order_from_xml(_fixture("ca_cancel_response_200.xml"))
    assert order.external_id == "3225224"
    assert order.customer_order_id == "4324242T5"
    assert order.ordered_at == datetime(2018, 2, 16, 18, 16, 59, tzinfo=UTC)
    assert order.currency == "USD"
    assert order.tax_mode == "TAX_EXCLUDED"
    first, second = order.lines
    assert (first.external_id, first.sku, first.status, first.cancelled_quantity) == ("1", "SKU232435435",
                                                                                      "Cancelled", 1)
    assert (second.external_id, second.status, second.cancelled_quantity) == ("2", "Acknowledged", 0)
    assert second.unit_price == Decimal("30.00") and second.price == Decimal("30.00")
    assert second.taxes == (LineTax(code="Tax1", amount=Decimal("2.85")),)
    assert order.status == "Acknowledged"  # one line still alive
    assert order.raw["purchaseOrderId"] == "3225224"
    json.dumps(order.raw)  # stored as JSON by the service layer


def test_get_order_with_other_namespaces_and_shipping_charge():
    order = wx.order_from_xml(_fixture("ca_get_order_response_200.xml"))
    (line,) = order.lines
    assert order.ordered_at.utcoffset().total_seconds() == 5.5 * 3600
    assert (line.title, line.sku, line.status, line.quantity) == ("Item 1", "", "Created", 1)
    assert line.shipping_price == Decimal("0.00")
    assert order.status == "Created"


def test_order_list_pages_and_cursor():
    page = wx.orders_page_from_xml(_fixture("ca_get_all_orders_response_200.xml"))
    assert [o.external_id for o in page.orders] == ["2575263094491", "2575263094492"]
    assert page.total_count == 367
    assert page.next_cursor.startswith("?limit=10&hasMoreElements=true&soIndex=2")
    assert page.orders[0].lines[0].taxes[0].amount == Decimal("1.87")
    ventmere = wx.orders_page_from_xml(_fixture("ventmere_ca_get_all_orders_list.xml"))
    assert len(ventmere.orders) == 2


def test_json_order_with_numeric_amounts_and_epoch_dates():
    order = wx.order_from_json(_fixture("us_cancel_response_200.json"))
    (line,) = order.lines
    assert order.ordered_at == datetime(2016, 10, 13, 19, 32, 53, tzinfo=UTC)
    assert line.cancelled_quantity == 1 and line.status == "Cancelled"
    assert [t.code for t in line.taxes] == ["Tax1"] and [t.code for t in line.shipping_taxes] == ["Tax2"]


def test_json_amounts_are_exact_decimals_and_multi_unit_prices():
    data = {"order": {
        "purchaseOrderId": "PO9", "orderDate": "2024-03-01T10:00:00Z",
        "orderLines": {"orderLine": [{
            "lineNumber": "1", "item": {"sku": "S", "productName": "P"},
            "orderLineQuantity": {"unitOfMeasurement": "EACH", "amount": "3"},
            "charges": {"charge": [
                {"chargeType": "PRODUCT", "chargeAmount": {"currency": "CAD", "amount": 19.99},
                 "tax": [{"taxName": "GST", "taxAmount": {"currency": "CAD", "amount": 3.0}},
                         {"taxName": "PST", "taxAmount": {"currency": "CAD", "amount": 4.2}}]},
                {"chargeType": "SHIPPING", "chargeAmount": {"currency": "CAD", "amount": 5.1},
                 "tax": {"taxName": "GST", "taxAmount": {"currency": "CAD", "amount": 0.26}}},
            ]},
            "orderLineStatuses": {"orderLineStatus": [
                {"status": "Acknowledged", "statusQuantity": {"unitOfMeasurement": "EACH", "amount": "2"}},
                {"status": "Cancelled", "statusQuantity": {"unitOfMeasurement": "EACH", "amount": "1"}},
            ]},
        }]},
    }}
    order = wx.order_from_json(json.dumps(data))
    (line,) = order.lines
    assert line.unit_price == Decimal("19.99") and line.price == Decimal("59.97")
    assert line.shipping_price == Decimal("5.1")
    assert line.taxes == (LineTax("GST", Decimal("3.0")), LineTax("PST", Decimal("4.2")))
    assert line.shipping_taxes == (LineTax("GST", Decimal("0.26")),)
    assert (line.status, line.cancelled_quantity) == ("Acknowledged", 1)
    assert order.currency == "CAD"


def test_json_order_list():
    data = {"list": {"meta": {"totalCount": 3, "limit": 2, "nextCursor": "?soIndex=2"},
                     "elements": {"order": [{"purchaseOrderId": "A"}, {"purchaseOrderId": "B"}]}}}
    page = wx.orders_page_from_json(json.dumps(data))
    assert [o.external_id for o in page.orders] == ["A", "B"]
    assert (page.next_cursor, page.total_count) == ("?soIndex=2", 3)
    last = wx.orders_page_from_json(json.dumps({"list": {"meta": {"totalCount": 0}, "elements": {}}}))
    assert last.orders == [] and last.next_cursor == ""


def test_readers_refuse_entities_and_wrong_documents():
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
            b"<order><purchaseOrderId>&a;</purchaseOrderId></order>")
    with pytest.raises(wx.WalmartPayloadError):
        wx.order_from_xml(bomb)
    with pytest.raises(wx.WalmartPayloadError, match="Expected an order"):
        wx.order_from_xml(_fixture("ca_get_all_orders_response_200.xml"))
    with pytest.raises(wx.WalmartPayloadError):
        wx.order_from_json(b"<html>Bad gateway</html>")


# ------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("name", "code", "line"),
    [
        ("ca_error_401_unauthorized_gateway.json", "UNAUTHORIZED.GMP_GATEWAY_API", ""),
        ("us_error_400_invalid_request_content.json", "INVALID_REQUEST_CONTENT.GMP_ORDER_API", "1"),
        # "lineNumber: 2" there is the XML parser's position, not an order line.
        ("us_error_400_unqualified_xml_root.json", "INVALID_REQUEST_CONTENT.GMP_ORDER_API", ""),
        ("walmartlabs_dotnet_error_400_header.xml", "INVALID_REQUEST_HEADER.GMP_ORDER_API", ""),
        ("walmartlabs_dotnet_error_sample.xml", "INVALID_REQUEST", ""),
    ],
)
def test_error_bodies(name, code, line):
    (error,) = wx.errors_from_body(_fixture(name))
    assert error.code == code
    assert error.line_number == line
    assert error.message


def test_error_bodies_other_shapes():
    assert wx.errors_from_body(b'{"errors": [{"code": "A", "description": "Bad line number 7"}]}')[0].line_number == "7"
    oauth = wx.errors_from_body(b'{"error": "invalid_client", "error_description": "Bad client"}')
    assert (oauth[0].code, oauth[0].message) == ("invalid_client", "Bad client")
    assert wx.errors_from_body(b"Service Unavailable") == []
    assert wx.errors_from_body(b"<html><body>502</body></html>") == []


def test_open_quantity_counts_only_created_and_acknowledged_units():
    from cancellations.marketplaces.walmart_ca.codec import line_from_data

    line = line_from_data({
        "lineNumber": "1", "item": {"sku": "S"}, "orderLineQuantity": {"amount": "4"},
        "orderLineStatuses": {"orderLineStatus": [
            {"status": "Shipped", "statusQuantity": {"amount": "1"}},
            {"status": "Acknowledged", "statusQuantity": {"amount": "2"}},
            {"status": "Cancelled", "statusQuantity": {"amount": "1"}},
        ]},
    })
    assert (line.quantity, line.cancelled_quantity, line.open_quantity) == (4, 1, 2)
