"""The Walmart CA backend over mocked HTTP: headers, signature, batching, errors, OAuth tokens, masking."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from cancellations.marketplaces.base import (
    AccountConfig,
    AccountError,
    ConfigurationError,
    LineCancel,
    LineOutcome,
    PermanentError,
    TransientError,
)
from cancellations.marketplaces.walmart_ca.backend import WALMART_CA_REASONS, WalmartCABackend
from cancellations.marketplaces.walmart_ca.codec import cancel_request_from_json, cancel_request_from_xml
from cancellations.marketplaces.walmart_ca.signing import load_private_key, verify
from cancellations.marketplaces.walmart_global import token_cache_clear

FIXTURES = Path("/work/shared/fixtures/walmart_ca")
BASE = "https://marketplace.walmartapis.com"
PRIVATE_KEY = json.loads((FIXTURES / "signature_test_vectors.json").read_text())["private_key_pkcs8_der_base64"]
PUBLIC_KEY = load_private_key(PRIVATE_KEY).public_key()
SIGNATURE_CREDENTIALS = {"consumer_id": "cid-1234", "channel_type": "chan-5678", "private_key": PRIVATE_KEY}
OAUTH_CREDENTIALS = {"client_id": "client-abc", "client_secret": "client-secret-value-42"}
TOKEN = "issued-access-token-0123456789"


def _fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8-sig")


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    token_cache_clear()
    yield
    token_cache_clear()


def _backend(mode: str = "signature", exchanges: list | None = None, **credentials) -> WalmartCABackend:
    base = SIGNATURE_CREDENTIALS if mode == "signature" else OAUTH_CREDENTIALS
    account = AccountConfig(name="wm", marketplace="walmart_ca", base_url=BASE,
                            credentials={**base, **credentials}, options={"auth": mode})
    return WalmartCABackend(account, on_exchange=exchanges.append if exchanges is not None else None)


def _line(line_id: str, quantity: int = 1, *, order_id: str = "3225224", previously: int = 0) -> LineCancel:
    return LineCancel(ref=int(line_id) * 10, order_id=order_id, line_id=line_id, quantity=quantity,
                      reason_code="CANCEL_BY_SELLER", previously_cancelled=previously)


def _assert_signed(request: requests.PreparedRequest) -> None:
    headers = request.headers
    assert verify(
        consumer_id="cid-1234", url=request.url, method=request.method, timestamp_ms=headers["WM_SEC.TIMESTAMP"],
        signature=headers["WM_SEC.AUTH_SIGNATURE"], public_key=PUBLIC_KEY,
    )


def _add_token(rsps: responses.RequestsMock, token: str = TOKEN, expires_in: int = 900) -> None:
    rsps.add(responses.POST, f"{BASE}/v3/token",
             json={"access_token": token, "token_type": "Bearer", "expires_in": expires_in})


# --------------------------------------------------------------------------------------- signature mode


@responses.activate
def test_signature_headers_on_get_order():
    responses.add(responses.GET, f"{BASE}/v3/ca/orders/1796330120075",
                  body=_fixture("ca_get_order_response_200.xml"), content_type="application/xml")
    before = int(time.time() * 1000)
    order = _backend().get_order("1796330120075")
    assert order.external_id == "1796330120075"
    request = responses.calls[0].request
    headers = request.headers
    assert request.url == f"{BASE}/v3/ca/orders/1796330120075"
    assert headers["WM_CONSUMER.ID"] == "cid-1234"
    assert headers["WM_CONSUMER.CHANNEL.TYPE"] == "chan-5678"
    assert headers["WM_SVC.NAME"] == "Walmart Marketplace"
    assert headers["Accept"] == headers["Content-Type"] == "application/xml"
    assert uuid.UUID(headers["WM_QOS.CORRELATION_ID"])
    assert before <= int(headers["WM_SEC.TIMESTAMP"]) <= int(time.time() * 1000)
    _assert_signed(request)


@responses.activate
def test_each_attempt_gets_its_own_correlation_id_and_signature():
    responses.add(responses.GET, f"{BASE}/v3/ca/orders/1796330120075",
                  body=_fixture("ca_get_order_response_200.xml"))
    backend = _backend()
    backend.get_order("1796330120075")
    backend.get_order("1796330120075")
    first, second = (c.request.headers for c in responses.calls)
    assert first["WM_QOS.CORRELATION_ID"] != second["WM_QOS.CORRELATION_ID"]


@responses.activate
def test_the_key_is_parsed_once_per_process_and_a_changed_key_is_used_at_once():
    from unittest import mock

    from cancellations.marketplaces.walmart_ca import signing
    from cancellations.sandbox.provision import walmart_private_key_generate

    responses.add(responses.GET, f"{BASE}/v3/ca/orders/1796330120075",
                  body=_fixture("ca_get_order_response_200.xml"))
    new_key = walmart_private_key_generate()
    signing._PARSED_KEYS.clear()
    with mock.patch.object(signing, "load_private_key", wraps=signing.load_private_key) as parse:
        for _ in range(3):  # three backends, as three dispatch tasks of one worker make them
            _backend().get_order("1796330120075")
        assert parse.call_count == 1
        _backend(private_key=new_key).get_order("1796330120075")  # the account's key was replaced
        assert parse.call_count == 2
    _assert_signed(responses.calls[2].request)
    new_public = load_private_key(new_key).public_key()
    last = responses.calls[3].request
    assert verify(consumer_id="cid-1234", url=last.url, method="GET", timestamp_ms=last.headers["WM_SEC.TIMESTAMP"],
                  signature=last.headers["WM_SEC.AUTH_SIGNATURE"], public_key=new_public)


def test_parsed_keys_keep_the_most_recently_used():
    from cancellations.marketplaces.walmart_ca import signing
    from cancellations.sandbox.provision import walmart_private_key_generate

    keys = [PRIVATE_KEY, walmart_private_key_generate(), walmart_private_key_generate()]
    cache = signing._ParsedKeys(size=2)
    first = cache.get(keys[0])
    cache.get(keys[1])
    assert cache.get(keys[0]) is first  # used again: now the most recent
    cache.get(keys[2])  # evicts keys[1], the least recently used
    assert cache.get(keys[0]) is first and len(cache._keys) == 2


@responses.activate
def test_cancel_sends_all_lines_of_the_order_in_one_call():
    responses.add(responses.POST, f"{BASE}/v3/ca/orders/3225224/cancel",
                  body=_fixture("ca_cancel_response_200.xml"), content_type="application/xml")
    result = _backend().cancel_lines([_line("1"), _line("2")])
    assert len(responses.calls) == 1
    request = responses.calls[0].request
    _assert_signed(request)
    assert request.headers["Content-Type"] == "application/xml"
    sent = cancel_request_from_xml(request.body)
    assert [(r.line_number, r.amount, r.reason, r.status, r.unit) for r in sent] == [
        ("1", "1", "CANCEL_BY_SELLER", "Cancelled", "EACH"), ("2", "1", "CANCEL_BY_SELLER", "Cancelled", "EACH"),
    ]
    # Walmart's sample answer shows line 1 Cancelled and line 2 still Acknowledged.
    first, second = result.lines
    assert (first.ref, first.outcome, first.cancelled_quantity) == (10, LineOutcome.CONFIRMED, 1)
    assert (second.ref, second.outcome, second.error_code) == (20, LineOutcome.REJECTED, "not_applied")
    assert "expected 1" in second.error_message
    assert "3225224" in result.raw


@responses.activate
def test_cancel_compares_with_previously_cancelled_units_and_refuses_a_repeated_line():
    responses.add(responses.POST, f"{BASE}/v3/ca/orders/3225224/cancel", body=_fixture("ca_cancel_response_200.xml"))
    # Line 1 shows 1 cancelled unit; one was cancelled before, so one more should make 2.
    result = _backend().cancel_lines([_line("1", previously=1)])
    assert result.lines[0].outcome == LineOutcome.REJECTED
    with pytest.raises(ValueError, match="twice"):
        _backend().cancel_lines([
            LineCancel(ref=1, order_id="3225224", line_id="1", quantity=1, reason_code="CANCEL_BY_SELLER"),
            LineCancel(ref=2, order_id="3225224", line_id="1", quantity=1, reason_code="CANCEL_BY_SELLER"),
        ])
    assert len(responses.calls) == 1


def test_cancel_refuses_lines_of_several_orders():
    with pytest.raises(ValueError, match="one purchase order"):
        _backend().cancel_lines([_line("1", order_id="A"), _line("2", order_id="B")])
    with pytest.raises(ValueError):
        _backend().cancel_lines([])


def test_batch_key_is_the_purchase_order():
    assert WalmartCABackend.batch_key(_line("1", order_id="PO-77")) == "PO-77"


@responses.activate
def test_reasons_are_the_documented_ones_without_http():
    reasons = _backend().list_reasons()
    assert [r.code for r in reasons] == ["CANCEL_BY_SELLER", "CUSTOMER_REQUESTED_SELLER_TO_CANCEL"]
    assert set(WALMART_CA_REASONS) == {r.code for r in reasons}
    assert len(responses.calls) == 0


@responses.activate
def test_order_pages_follow_next_cursor_verbatim():
    first_page = _fixture("ca_get_all_orders_response_200.xml")
    last_page = first_page.replace(
        re.search(r"<nextCursor>.*</nextCursor>", first_page).group(0), ""
    ).replace("2575263094491", "2575263094493").replace("2575263094492", "2575263094494")
    cursor = "?limit=10&hasMoreElements=true&soIndex=2&poIndex=2&sellerId=10&status=Created&createdStartDate=" \
             "2016-01-01&createdEndDate=2016-06-03T22:45:16.377Z"

    def answer(request):
        return (200, {}, first_page if "soIndex" not in request.url else last_page)

    responses.add_callback(responses.GET, re.compile(rf"{re.escape(BASE)}/v3/ca/orders\?.*"), callback=answer)
    pages = list(_backend().iter_order_pages(datetime(2016, 1, 1, tzinfo=UTC)))
    assert [[o.external_id for o in page] for page in pages] == [
        ["2575263094491", "2575263094492"], ["2575263094493", "2575263094494"],
    ]
    first, second = (c.request for c in responses.calls)
    # Walmart's documented maximum page size, so a sync makes the fewest list calls.
    assert parse_qs(urlsplit(first.url).query) == {"createdStartDate": ["2016-01-01T00:00:00Z"], "limit": ["200"]}
    assert "createdStartDate=2016-01-01T00%3A00%3A00Z" in first.url
    assert second.url == f"{BASE}/v3/ca/orders{cursor}"
    _assert_signed(first)
    _assert_signed(second)


@responses.activate
def test_order_list_404_no_content_is_empty_but_other_404_is_an_error():
    not_found = {"errors": {"error": [{"code": "CONTENT_NOT_FOUND.GMP_ORDER_API", "description": "No orders"}]}}
    responses.add(responses.GET, re.compile(rf"{re.escape(BASE)}/v3/ca/orders\?.*"), json=not_found, status=404)
    assert list(_backend().iter_order_pages(datetime(2024, 1, 1, tzinfo=UTC))) == []
    responses.replace(responses.GET, re.compile(rf"{re.escape(BASE)}/v3/ca/orders\?.*"), status=404,
                      json={"errors": {"error": [{"code": "URI_NOT_FOUND.GMP_GATEWAY_API", "description": "No"}]}})
    with pytest.raises(PermanentError) as info:
        list(_backend().iter_order_pages(datetime(2024, 1, 1, tzinfo=UTC)))
    assert info.value.code == "URI_NOT_FOUND.GMP_GATEWAY_API"


# ------------------------------------------------------------------------------------------ errors

CANCEL_URL = f"{BASE}/v3/ca/orders/3225224/cancel"


@responses.activate
def test_400_naming_a_line_rejects_only_that_line():
    body = ('<ns2:errors xmlns:ns2="http://walmart.com/"><ns2:error>'
            "<ns2:code>INVALID_REQUEST_CONTENT.GMP_ORDER_API</ns2:code>"
            "<ns2:description>Order line is shipped and cannot be cancelled: line number 2</ns2:description>"
            "</ns2:error></ns2:errors>")
    responses.add(responses.POST, CANCEL_URL, body=body, status=400, content_type="application/xml")
    with pytest.raises(PermanentError) as info:
        _backend().cancel_lines([_line("1"), _line("2")])
    error = info.value
    assert (error.code, error.status_code) == ("INVALID_REQUEST_CONTENT.GMP_ORDER_API", 400)
    assert error.line_errors == {
        "2": ("INVALID_REQUEST_CONTENT.GMP_ORDER_API", "Order line is shipped and cannot be cancelled: line number 2")
    }


@responses.activate
def test_400_about_the_document_names_no_line():
    responses.add(responses.POST, CANCEL_URL, body=_fixture("us_error_400_unqualified_xml_root.json"), status=400)
    with pytest.raises(PermanentError) as info:
        _backend().cancel_lines([_line("1")])
    assert info.value.line_errors == {}
    assert "SAXParseException" in info.value.message


@responses.activate
def test_401_is_an_account_error():
    responses.add(responses.POST, CANCEL_URL, body=_fixture("ca_error_401_unauthorized_gateway.json"), status=401)
    with pytest.raises(AccountError) as info:
        _backend().cancel_lines([_line("1")])
    assert info.value.code == "UNAUTHORIZED.GMP_GATEWAY_API"


@responses.activate
def test_429_is_transient_with_retry_after():
    responses.add(responses.POST, CANCEL_URL, status=429, headers={"Retry-After": "7"},
                  json={"error": [{"code": "REQUEST_THRESHOLD_VIOLATED.GMP_GATEWAY_API", "description": "Slow down"}]})
    with pytest.raises(TransientError) as info:
        _backend().cancel_lines([_line("1")])
    assert (info.value.retry_after, info.value.outcome_unknown) == (7.0, False)
    assert info.value.code == "REQUEST_THRESHOLD_VIOLATED.GMP_GATEWAY_API"


@responses.activate
def test_500_is_transient_with_unknown_outcome():
    responses.add(responses.POST, CANCEL_URL, status=500, body="Internal Server Error")
    with pytest.raises(TransientError) as info:
        _backend().cancel_lines([_line("1")])
    assert info.value.outcome_unknown and info.value.status_code == 500


@responses.activate
def test_read_timeout_is_transient_with_unknown_outcome():
    responses.add(responses.POST, CANCEL_URL, body=requests.ReadTimeout("read timed out"))
    exchanges: list = []
    with pytest.raises(TransientError) as info:
        _backend(exchanges=exchanges).cancel_lines([_line("1")])
    assert info.value.outcome_unknown and info.value.code == "timeout"
    assert exchanges[0].status_code is None and "timeout" in exchanges[0].error


@responses.activate
def test_unreadable_success_answer_to_a_cancel_means_unknown_outcome():
    responses.add(responses.POST, CANCEL_URL, status=200, body="<html>gateway page</html>")
    with pytest.raises(TransientError) as info:
        _backend().cancel_lines([_line("1")])
    assert info.value.outcome_unknown and info.value.code == "unreadable_response"


@responses.activate
def test_bad_private_key_fails_before_any_call():
    with pytest.raises(AccountError, match="could not be loaded"):
        _backend(private_key="bm90IGEga2V5").get_order("1")
    with pytest.raises(AccountError, match="channel_type"):
        _backend(channel_type="").get_order("1")
    assert len(responses.calls) == 0


def test_unknown_auth_mode_is_a_configuration_error():
    account = AccountConfig(name="wm", marketplace="walmart_ca", base_url=BASE, credentials={},
                            options={"auth": "magic"})
    with pytest.raises(ConfigurationError):
        WalmartCABackend(account)


@responses.activate
def test_signature_mode_records_nothing_secret():
    responses.add(responses.POST, CANCEL_URL, body=_fixture("ca_cancel_response_200.xml"))
    exchanges: list = []
    _backend(exchanges=exchanges).cancel_lines([_line("1")])
    signature = responses.calls[0].request.headers["WM_SEC.AUTH_SIGNATURE"]
    (exchange,) = exchanges
    recorded = json.dumps(exchange.__dict__, default=str)
    assert exchange.operation == "cancel" and exchange.status_code == 200
    assert exchange.request_headers["WM_SEC.AUTH_SIGNATURE"] == "***"
    assert exchange.request_headers["WM_CONSUMER.ID"] == "cid-1234"  # an identifier, kept for support
    assert signature not in recorded and PRIVATE_KEY not in recorded and PRIVATE_KEY[20:60] not in recorded
    assert exchange.correlation_id == responses.calls[0].request.headers["WM_QOS.CORRELATION_ID"]


# ------------------------------------------------------------------------------------------- OAuth mode


@responses.activate
def test_oauth_token_is_fetched_once_and_sent_with_global_headers():
    _add_token(responses)
    order_json = _fixture("us_cancel_response_200.json")
    responses.add(responses.GET, f"{BASE}/v3/orders/1577914061094", body=order_json,
                  content_type="application/json")
    responses.add(responses.POST, f"{BASE}/v3/orders/1577914061094/cancel", body=order_json,
                  content_type="application/json")
    backend = _backend("oauth")
    backend.get_order("1577914061094")
    result = _backend("oauth").cancel_lines([_line("1", order_id="1577914061094")])  # a new instance, same cache
    assert result.lines[0].outcome == LineOutcome.CONFIRMED

    token_call, get_call, cancel_call = responses.calls
    assert token_call.request.url == f"{BASE}/v3/token"
    expected_basic = base64.b64encode(b"client-abc:client-secret-value-42").decode()
    assert token_call.request.headers["Authorization"] == f"Basic {expected_basic}"
    assert token_call.request.body == b"grant_type=client_credentials"
    assert token_call.request.headers["Accept"] == "application/json"
    for call in (get_call, cancel_call):
        headers = call.request.headers
        assert headers["WM_SEC.ACCESS_TOKEN"] == TOKEN
        assert (headers["WM_MARKET"], headers["WM_GLOBAL_VERSION"]) == ("ca", "3.1")
        assert headers["WM_SVC.NAME"] == "Walmart Marketplace"
        assert uuid.UUID(headers["WM_QOS.CORRELATION_ID"])
        assert headers["Accept"] == headers["Content-Type"] == "application/json"
        assert "WM_SEC.AUTH_SIGNATURE" not in headers
    sent = cancel_request_from_json(cancel_call.request.body)
    assert [(r.line_number, r.amount, r.unit) for r in sent] == [("1", "1", "EACH")]


@responses.activate
def test_oauth_token_expiry_triggers_a_new_fetch(monkeypatch):
    _add_token(responses, expires_in=900)
    responses.add(responses.GET, f"{BASE}/v3/orders/1577914061094", body=_fixture("us_cancel_response_200.json"))
    backend = _backend("oauth")
    backend.get_order("1577914061094")
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + 841)  # within the last minute of the token's life
    backend.get_order("1577914061094")
    assert [c.request.url.rsplit("/", 1)[-1] for c in responses.calls] == [
        "token", "1577914061094", "token", "1577914061094",
    ]


@responses.activate
def test_oauth_401_drops_the_cached_token_without_looping():
    _add_token(responses)
    responses.add(responses.GET, f"{BASE}/v3/orders/1", status=401,
                  body=_fixture("ca_error_401_unauthorized_gateway.json"))
    with pytest.raises(AccountError):
        _backend("oauth").get_order("1")
    assert len(responses.calls) == 2  # token + the one refused call, no retry
    with pytest.raises(AccountError):
        _backend("oauth").get_order("1")
    assert [c.request.url.rsplit("/", 1)[-1] for c in responses.calls] == ["token", "1", "token", "1"]


@responses.activate
def test_oauth_token_refused_is_an_account_error():
    responses.add(responses.POST, f"{BASE}/v3/token", status=401,
                  body=_fixture("ca_error_401_unauthorized_gateway.json"))
    with pytest.raises(AccountError):
        _backend("oauth").get_order("1")
    assert len(responses.calls) == 1


@responses.activate
def test_oauth_recorded_exchanges_mask_token_and_secret():
    _add_token(responses)
    responses.add(responses.GET, f"{BASE}/v3/orders/1577914061094",
                  body=_fixture("us_cancel_response_200.json").replace("VBayana", TOKEN))  # echoed token
    exchanges: list = []
    _backend("oauth", exchanges=exchanges).get_order("1577914061094")
    assert [e.operation for e in exchanges] == ["token", "get_order"]
    recorded = json.dumps([e.__dict__ for e in exchanges], default=str)
    basic = base64.b64encode(b"client-abc:client-secret-value-42").decode()
    for secret in (TOKEN, "client-secret-value-42", basic):
        assert secret not in recorded
    assert exchanges[0].request_headers["Authorization"] == "***"
    assert '"access_token": "***"' in exchanges[0].response_body
    assert exchanges[1].request_headers["WM_SEC.ACCESS_TOKEN"] == "***"
    assert "***@walmartlabs.com" in exchanges[1].response_body
