"""Mirakl backend against mocked HTTP (``responses``). All payloads here are synthetic, written from the
documented field lists (OR11, OR30, RE01); none is copied from a real marketplace."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from cancellations.marketplaces.base import (
    AccountConfig,
    AccountError,
    ConfigurationError,
    LineCancel,
    LineOutcome,
    PermanentError,
    TaxAmount,
    TransientError,
)
from cancellations.marketplaces.mirakl.backend import MiraklBackend, json_dumps_exact

BASE = "https://mirakl.example.com"
API_KEY = "c0ffee-mirakl-shop-key-4242"
D = Decimal


def backend(*, shop_id="2001", exchanges=None, **options) -> MiraklBackend:
    if shop_id is not None:
        options["shop_id"] = shop_id
    account = AccountConfig(
        name="bby", marketplace="mirakl", base_url=BASE, credentials={"api_key": API_KEY}, options=options
    )
    return MiraklBackend(account, on_exchange=exchanges.append if exchanges is not None else None)


def line(ref=1, line_id="BBY-1-A-1", **kwargs) -> LineCancel:
    defaults = dict(
        order_id=line_id.rsplit("-", 1)[0], quantity=1, reason_code="21", amount=D("3.33"),
        shipping_amount=D("0.00"), currency="CAD", tax_mode="TAX_EXCLUDED",
    )
    return LineCancel(ref=ref, line_id=line_id, **{**defaults, **kwargs})


def query(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


# ------------------------------------------------------------------------------------------ OR30


@responses.activate
def test_cancel_sends_headers_shop_id_and_exact_decimal_body():
    responses.put(f"{BASE}/api/orders/cancel", json={"cancelations": [
        {"cancelation_id": "9001", "order_line_id": "BBY-1-A-1", "amount": 3.33},
        {"cancelation_id": "9002", "order_line_id": "BBY-2-A-3", "amount": 10},
    ]})
    lines = [
        line(1, "BBY-1-A-1", taxes=(TaxAmount("GST", D("0.17")), TaxAmount("PST", D("0.2")))),
        line(2, "BBY-2-A-3", quantity=2, amount=D("10"), shipping_amount=D("4.5"),
             shipping_taxes=(TaxAmount("HST", D("0.59")),)),
    ]

    result = backend().cancel_lines(lines)

    request = responses.calls[0].request
    assert request.headers["Authorization"] == API_KEY  # raw key, no scheme
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"] == "application/json"
    assert query(responses.calls[0]) == {"shop_id": ["2001"]}
    body = request.body.decode() if isinstance(request.body, bytes) else request.body
    assert body == (
        '{"cancelations": ['
        '{"order_line_id": "BBY-1-A-1", "quantity": 1, "reason_code": "21", "amount": 3.33, '
        '"shipping_amount": 0.00, "currency_iso_code": "CAD", '
        '"taxes": [{"amount": 0.17, "code": "GST"}, {"amount": 0.20, "code": "PST"}]}, '
        '{"order_line_id": "BBY-2-A-3", "quantity": 2, "reason_code": "21", "amount": 10.00, '
        '"shipping_amount": 4.50, "currency_iso_code": "CAD", '
        '"shipping_taxes": [{"amount": 0.59, "code": "HST"}]}'
        '], "order_tax_mode": "TAX_EXCLUDED"}'
    )
    # and it is valid JSON whose numbers read back exactly
    parsed = json.loads(body, parse_float=D)
    assert parsed["cancelations"][1]["shipping_amount"] == D("4.50")
    assert [(r.ref, r.outcome, r.marketplace_reference) for r in result.lines] == [
        (1, LineOutcome.CONFIRMED, "9001"), (2, LineOutcome.CONFIRMED, "9002"),
    ]
    assert "9001" in result.raw


@responses.activate
def test_cancel_without_shop_id_or_tax_mode_leaves_them_out():
    responses.put(f"{BASE}/api/orders/cancel", json={"cancelations": []})
    backend(shop_id=None).cancel_lines([line(tax_mode="", currency="")])
    call = responses.calls[0]
    assert urlsplit(call.request.url).query == ""
    body = json.loads(call.request.body)
    assert "order_tax_mode" not in body
    assert "currency_iso_code" not in body["cancelations"][0]
    assert "taxes" not in body["cancelations"][0]
    assert "shipping_taxes" not in body["cancelations"][0]


@responses.activate
def test_line_missing_from_the_answer_is_an_unknown_outcome():
    responses.put(f"{BASE}/api/orders/cancel", json={"cancelations": [
        {"cancelation_id": "77", "order_line_id": "BBY-1-A-2"},
    ]})
    result = backend().cancel_lines([line(1, "BBY-1-A-1"), line(2, "BBY-1-A-2")])
    first, second = result.lines
    assert (first.outcome, first.error_code) == (LineOutcome.UNKNOWN, "line_missing_from_answer")
    assert (second.outcome, second.marketplace_reference) == (LineOutcome.CONFIRMED, "77")


@responses.activate
def test_ok_answer_without_cancelations_is_an_unknown_outcome():
    responses.put(f"{BASE}/api/orders/cancel", body="<html>maintenance</html>", status=200)
    with pytest.raises(TransientError) as info:
        backend().cancel_lines([line()])
    assert info.value.code == "bad_response"

    responses.replace(responses.PUT, f"{BASE}/api/orders/cancel", json={"unexpected": True})
    with pytest.raises(TransientError) as info:
        backend().cancel_lines([line()])
    assert info.value.outcome_unknown


@responses.activate
def test_at_most_100_lines_per_call():
    responses.put(f"{BASE}/api/orders/cancel", json={"cancelations": []})
    many = [line(i, f"BBY-{i}-A-1") for i in range(101)]
    with pytest.raises(ValueError, match="at most 100"):
        backend().cancel_lines(many)
    assert len(responses.calls) == 0
    backend().cancel_lines(many[:100])
    assert len(json.loads(responses.calls[0].request.body)["cancelations"]) == 100


def test_lines_with_different_tax_modes_or_twice_the_same_line_are_refused():
    with pytest.raises(ValueError, match="tax modes"):
        backend().cancel_payload([line(1, "A-1", tax_mode="TAX_EXCLUDED"), line(2, "B-1", tax_mode="TAX_INCLUDED")])
    with pytest.raises(ValueError, match="twice"):
        backend().cancel_payload([line(1, "A-1"), line(2, "A-1")])


def test_no_lines_means_no_call():
    assert backend().cancel_lines([]).lines == ()


def test_batch_key_puts_every_order_of_the_account_together_per_tax_mode():
    assert MiraklBackend.batch_key(line(line_id="X-A-1")) == MiraklBackend.batch_key(line(line_id="Y-A-1"))
    assert MiraklBackend.batch_key(line(tax_mode="TAX_INCLUDED")) != MiraklBackend.batch_key(line())


def test_the_call_follows_the_line_state_and_the_account():
    assert MiraklBackend.batch_key(line(line_status="WAITING_ACCEPTANCE")) == "OR21 BBY-1-A"
    assert MiraklBackend.batch_key(line(line_status="SHIPPING", whole_order=True)) == "OR29 BBY-1-A"
    assert MiraklBackend.batch_key(line(line_status="SHIPPING")) == "OR30 TAX_EXCLUDED"
    assert MiraklBackend.batch_key(line(line_status="waiting_acceptance", whole_order=True)) == "OR21 BBY-1-A"


@responses.activate
def test_or21_refuses_lines_and_accepts_the_others_asked_for():
    responses.put(f"{BASE}/api/orders/BBY-1-A/accept", status=204)
    waiting = dict(line_status="WAITING_ACCEPTANCE", accept_others=("BBY-1-A-2", "BBY-1-A-3"))
    result = backend().cancel_lines([line(1, "BBY-1-A-1", quantity=2, **waiting),
                                     line(2, "BBY-1-A-3", **waiting)])
    body = json.loads(responses.calls[0].request.body)
    assert body == {"order_lines": [{"accepted": False, "id": "BBY-1-A-1"}, {"accepted": False, "id": "BBY-1-A-3"},
                                    {"accepted": True, "id": "BBY-1-A-2"}]}
    assert query(responses.calls[0]) == {"shop_id": ["2001"]}
    assert [(r.outcome, r.line_status, r.cancelled_quantity) for r in result.lines] == [
        (LineOutcome.CONFIRMED, "REFUSED", 2), (LineOutcome.CONFIRMED, "REFUSED", 1)]


@responses.activate
def test_or29_cancels_the_whole_order_without_a_body():
    responses.put(f"{BASE}/api/orders/BBY-1-A/cancel", status=204)
    prepared = backend().cancel_request([line(line_status="SHIPPING", whole_order=True)])
    assert (prepared.name, prepared.method, prepared.body) == ("OR29", "PUT", "")
    result = backend().cancel_lines([line(line_status="SHIPPING", whole_order=True)])
    assert responses.calls[0].request.body is None
    assert result.lines[0].outcome == LineOutcome.CONFIRMED and result.lines[0].line_status == "CANCELED"


def test_or30_carries_fees_and_one_call_never_mixes_calls():
    prepared = backend().cancel_request([line(fees=(TaxAmount("CARD_FEE", D("4.50")),))])
    assert prepared.name == "OR30"
    assert json.loads(prepared.body)["cancelations"][0]["fees"] == [{"amount": 4.5, "code": "CARD_FEE"}]
    with pytest.raises(ValueError):
        backend().cancel_request([line(), line(2, "BBY-1-A-2", line_status="WAITING_ACCEPTANCE")])
    with pytest.raises(ValueError):
        backend().cancel_request([line(line_status="WAITING_ACCEPTANCE"),
                                  line(2, "BBY-2-A-1", line_status="WAITING_ACCEPTANCE")])


@responses.activate
def test_or21_error_naming_another_waiting_line_blames_no_line_of_the_call():
    responses.put(f"{BASE}/api/orders/BBY-1-A/accept", status=400, json={
        "message": "Order line 'BBY-1-A-2': ORDER_LINE_ACCEPTANCE_DECISION_MISSING, every line waiting for "
                   "acceptance needs a decision in the same call", "status": 400})
    with pytest.raises(PermanentError) as info:
        backend().cancel_lines([line(line_status="WAITING_ACCEPTANCE")])
    assert info.value.line_errors == {} and "DECISION_MISSING" in info.value.message


def test_parsed_lines_carry_fees_and_refused_lines_have_every_unit_gone():
    from cancellations.marketplaces.mirakl.backend import order_line_parse

    parsed = order_line_parse({"order_line_id": "X-A-1", "quantity": 3, "order_line_state": "REFUSED",
                               "fees": [{"code": "CARD_FEE", "amount": "1.50"}], "cancelations": []})
    assert parsed.cancelled_quantity == 3
    assert [(f.code, f.amount) for f in parsed.fees] == [("CARD_FEE", D("1.50"))]


def test_json_dumps_exact_never_goes_through_float():
    assert json_dumps_exact({"a": D("0.10"), "b": [1, "x", None, True]}) == '{"a": 0.10, "b": [1, "x", null, true]}'
    with pytest.raises(TypeError):
        json_dumps_exact({"a": 0.1})
    with pytest.raises(ValueError):
        json_dumps_exact(D("NaN"))


def test_missing_api_key_is_a_configuration_error():
    account = AccountConfig(name="x", marketplace="mirakl", base_url=BASE, credentials={})
    with pytest.raises(ConfigurationError):
        MiraklBackend(account).list_reasons()


# ------------------------------------------------------------------------------------------ OR11

SYNTHETIC_ORDER = {
    "order_id": "SYN-7-A",
    "commercial_id": "SYN-7",
    "order_state": "SHIPPING",
    "currency_iso_code": "CAD",
    "order_tax_mode": "TAX_EXCLUDED",
    "created_date": "2025-01-10T14:03:00Z",
    "last_updated_date": "2025-01-11T09:00:00Z",
    "some_future_field": {"ignored": True},
    "order_lines": [
        {
            "order_line_id": "SYN-7-A-1",
            "offer_sku": "SKU-RED",
            "product_title": "Red thing",
            "quantity": 3,
            "price_unit": 10.00,
            "price": 30.00,
            "shipping_price": 6.00,
            "order_line_state": "SHIPPING",
            "taxes": [
                {"code": "GST", "amount": 1.50, "rate": 5.0000, "tax_calculation_rule": "PROPORTIONAL_TO_AMOUNT"},
                {"code": "PST", "amount": 2.10, "rate": 7.0000, "tax_calculation_rule": "NONE"},
            ],
            "shipping_taxes": [{"code": "GST", "amount": 0.30, "rate": 5.0000}],
            "cancelations": [
                {"id": "5001", "quantity": 1, "amount": 10.00, "shipping_amount": 2.00, "reason_code": "21",
                 "taxes": [{"code": "GST", "amount": 0.50}, {"code": "PST", "amount": 0.70}],
                 "shipping_taxes": [{"code": "GST", "amount": 0.10}], "created_date": "2025-01-11T09:00:00Z"},
            ],
        },
        {"order_line_id": "SYN-7-A-2", "product_sku": "P-BLUE", "quantity": 1, "price_unit": 5, "price": 5,
         "order_line_state": "SHIPPING"},
    ],
}


@responses.activate
def test_get_order_parses_or11():
    responses.get(f"{BASE}/api/orders", json={"orders": [SYNTHETIC_ORDER], "total_count": 1})

    order = backend(tax_mode="TAX_EXCLUDED").get_order("SYN-7-A")

    assert query(responses.calls[0]) == {
        "order_ids": ["SYN-7-A"], "order_tax_mode": ["TAX_EXCLUDED"], "shop_id": ["2001"],
    }
    assert (order.external_id, order.customer_order_id, order.status, order.currency, order.tax_mode) == (
        "SYN-7-A", "SYN-7", "SHIPPING", "CAD", "TAX_EXCLUDED",
    )
    assert order.ordered_at == datetime(2025, 1, 10, 14, 3, tzinfo=UTC)
    first, second = order.lines
    assert (first.external_id, first.sku, first.title, first.quantity) == ("SYN-7-A-1", "SKU-RED", "Red thing", 3)
    assert (first.unit_price, first.price, first.shipping_price) == (D("10.00"), D("30.00"), D("6.00"))
    assert [(t.code, t.amount, t.rate, t.rule) for t in first.taxes] == [
        ("GST", D("1.50"), D("5.0000"), "PROPORTIONAL_TO_AMOUNT"), ("PST", D("2.10"), D("7.0000"), "NONE"),
    ]
    assert [(t.code, t.amount, t.rule) for t in first.shipping_taxes] == [("GST", D("0.30"), "")]
    assert first.cancelled_quantity == 1
    (cancelled,) = first.cancellations
    assert (cancelled.id, cancelled.quantity, cancelled.amount, cancelled.shipping_amount) == (
        "5001", 1, D("10.00"), D("2.00"),
    )
    assert [(t.code, t.amount) for t in cancelled.taxes] == [("GST", D("0.50")), ("PST", D("0.70"))]
    assert cancelled.reason_code == "21"
    assert (second.sku, second.shipping_price, second.cancelled_quantity, second.taxes) == ("P-BLUE", D("0"), 0, ())


@responses.activate
def test_get_order_not_found_is_permanent():
    responses.get(f"{BASE}/api/orders", json={"orders": [], "total_count": 0})
    with pytest.raises(PermanentError) as info:
        backend().get_order("NOPE-A")
    assert info.value.code == "order_not_found"


@responses.activate
def test_iter_order_pages_pages_by_total_count():
    def page(request):
        offset = int(parse_qs(urlsplit(request.url).query)["offset"][0])
        ids = range(offset, min(offset + 100, 130))
        orders = [{**SYNTHETIC_ORDER, "order_id": f"SYN-{i}-A", "order_lines": []} for i in ids]
        return 200, {}, json.dumps({"orders": orders, "total_count": 130})

    responses.add_callback(responses.GET, f"{BASE}/api/orders", callback=page)

    pages = list(backend().iter_order_pages(datetime(2025, 1, 10, 9, 30, 15, 999, tzinfo=UTC)))

    assert [len(p) for p in pages] == [100, 30]
    assert pages[1][-1].external_id == "SYN-129-A"
    first, second = (query(c) for c in responses.calls)
    assert first["start_update_date"] == ["2025-01-10T09:30:15Z"]
    assert (first["max"], first["offset"], second["offset"]) == (["100"], ["0"], ["100"])
    assert first["shop_id"] == ["2001"]


@responses.activate
def test_iter_order_pages_stops_on_an_empty_page():
    responses.get(f"{BASE}/api/orders", json={"orders": [], "total_count": 5})
    assert list(backend().iter_order_pages(datetime(2025, 1, 1, tzinfo=UTC))) == []
    assert len(responses.calls) == 1


# ------------------------------------------------------------------------------------------ RE01


@responses.activate
def test_list_reasons_keeps_shop_cancelation_reasons():
    responses.get(f"{BASE}/api/reasons", json={"reasons": [
        {"code": "21", "label": "Customer changed their mind", "type": "CANCELATION", "is_shop_right": True},
        {"code": "29", "label": "Operator only", "type": "CANCELATION", "is_shop_right": False},
        {"code": "31", "label": "Damaged", "type": "REFUND", "is_shop_right": True},
        {"code": "40", "label": "Message", "type": "ORDER_MESSAGING", "is_shop_right": True},
    ]})
    reasons = backend().list_reasons()
    assert [(r.code, r.label) for r in reasons] == [("21", "Customer changed their mind")]
    assert query(responses.calls[0]) == {"shop_id": ["2001"]}


# ------------------------------------------------------------------------------------------ errors


@responses.activate
def test_400_naming_a_line_of_the_request_gives_line_errors():
    responses.put(f"{BASE}/api/orders/cancel", status=400, json={
        "message": "Order line 'BBY-1-A-2': quantity 3 is more than the 1 units left; "
                   "Order line 'NOT-MINE-1': whatever",
        "status": 400,
    })
    with pytest.raises(PermanentError) as info:
        backend().cancel_lines([line(1, "BBY-1-A-1"), line(2, "BBY-1-A-2")])
    assert info.value.status_code == 400
    assert info.value.code == "http_400"
    assert "quantity 3" in info.value.message
    assert info.value.line_errors == {"BBY-1-A-2": ("http_400", "quantity 3 is more than the 1 units left")}


@responses.activate
def test_400_without_a_line_is_a_plain_permanent_error():
    responses.put(f"{BASE}/api/orders/cancel", status=400, json={"message": "Error with field cancelations"})
    with pytest.raises(PermanentError) as info:
        backend().cancel_lines([line()])
    assert (info.value.message, info.value.line_errors) == ("Error with field cancelations", {})


@pytest.mark.parametrize(
    ("status", "headers", "error_class", "check"),
    [
        (429, {"Retry-After": "7"}, TransientError, lambda e: e.retry_after == 7.0 and not e.outcome_unknown),
        (500, {}, TransientError, lambda e: e.outcome_unknown),
        (503, {}, TransientError, lambda e: e.outcome_unknown),
        (401, {}, AccountError, lambda e: e.status_code == 401),
        (403, {}, AccountError, lambda e: e.status_code == 403),
        (404, {}, PermanentError, lambda e: e.code == "http_404"),
    ],
)
@responses.activate
def test_error_classification(status, headers, error_class, check):
    responses.get(f"{BASE}/api/reasons", status=status, headers=headers,
                  json={"message": f"synthetic {status}", "status": status})
    with pytest.raises(error_class) as info:
        backend().list_reasons()
    assert info.value.message == f"synthetic {status}"
    assert check(info.value)


@responses.activate
def test_error_body_that_is_not_json_keeps_the_text():
    responses.get(f"{BASE}/api/orders", status=502, body="Bad gateway from the proxy")
    with pytest.raises(TransientError) as info:
        backend().get_order("X-A")
    assert info.value.message == "Bad gateway from the proxy"


@responses.activate
def test_recorded_exchanges_never_contain_the_api_key():
    responses.put(f"{BASE}/api/orders/cancel", status=400, json={"message": f"bad key echo {API_KEY}"})
    responses.get(f"{BASE}/api/orders", json={"orders": [SYNTHETIC_ORDER], "total_count": 1})
    exchanges = []
    b = backend(exchanges=exchanges)
    with pytest.raises(PermanentError):
        b.cancel_lines([line()])
    b.get_order("SYN-7-A")
    assert [e.operation for e in exchanges] == ["cancel", "get_order"]
    for exchange in exchanges:
        assert API_KEY not in repr(exchange)
        assert exchange.request_headers["Authorization"] == "***"
    assert exchanges[0].status_code == 400
    assert '"order_line_id": "BBY-1-A-1"' in exchanges[0].request_body


@responses.activate
def test_an_error_code_the_marketplace_gives_is_kept_as_given():
    responses.put(f"{BASE}/api/orders/cancel", status=400, json={
        "message": "Order line 'BBY-1-A-2': Order line has an open incident", "status": 400,
        "code": "ORDER_LINE_INCIDENT_OPEN"})
    with pytest.raises(PermanentError) as info:
        backend().cancel_lines([line(1, "BBY-1-A-1"), line(2, "BBY-1-A-2")])
    assert info.value.code == "ORDER_LINE_INCIDENT_OPEN"
    assert info.value.line_errors == {"BBY-1-A-2": ("ORDER_LINE_INCIDENT_OPEN", "Order line has an open incident")}
