"""The Walmart sandbox over real sockets, driven by the real backend in both auth modes."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from django.utils import timezone

from cancellations.marketplaces.base import (
    AccountConfig,
    AccountError,
    LineCancel,
    LineOutcome,
    PermanentError,
    TransientError,
)
from cancellations.marketplaces.walmart_ca.backend import WalmartCABackend
from cancellations.marketplaces.walmart_ca.signing import sign
from cancellations.marketplaces.walmart_global import token_cache_clear
from cancellations.sandbox import provision
from cancellations.sandbox.models import (
    FaultKind,
    SandboxCancel,
    SandboxFault,
    SandboxOrder,
    SandboxRequest,
    SandboxSeller,
)
from cancellations.sandbox.walmart import SEED_ORDERS, foreign_cancel, order_add, orders_seed

pytestmark = pytest.mark.django_db(transaction=True)

SLOW_DELAY = 2.5  # past the 2 s read timeout the tests run with


@dataclass
class Walmart:
    mode: str
    seller: SandboxSeller
    credentials: dict
    base_url: str
    exchanges: list
    backends: list = field(default_factory=list)

    def backend(self, **credentials) -> WalmartCABackend:
        account = AccountConfig(
            name=f"walmart-{self.mode}", marketplace="walmart_ca", base_url=self.base_url,
            credentials={**self.credentials, **credentials}, options={"auth": self.mode},
        )
        backend = WalmartCABackend(account, on_exchange=self.exchanges.append)
        self.backends.append(backend)  # closed after the test, so no keep-alive socket holds a server thread
        return backend

    def requests_for(self, operation: str) -> int:
        return SandboxRequest.objects.filter(marketplace="walmart_ca", operation=operation).count()

    def fault(self, operation: str, kind: str, **params) -> None:
        SandboxFault.objects.create(seller=self.seller, marketplace="walmart_ca", operation=operation, kind=kind,
                                    params=params)


def _credentials(mode: str) -> dict:
    suffix = uuid.uuid4().hex[:8]
    if mode == "signature":
        return {"auth": "signature", "consumer_id": f"consumer-{suffix}", "channel_type": f"channel-{suffix}",
                "private_key": provision.walmart_private_key_generate()}
    return {"auth": "oauth", "client_id": f"client-{suffix}", "client_secret": f"secret-{uuid.uuid4().hex}"}


def _walmart(mode: str, live_server) -> Walmart:
    """A seller registered with the sandbox the way the demo does it, with the seed orders."""
    credentials = _credentials(mode)
    seller = provision.seller_register(marketplace="walmart_ca", credentials=credentials, options={"auth": mode})
    orders_seed(seller)
    return Walmart(mode, seller, credentials, f"{live_server.url}/sandbox/walmart", [])


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    token_cache_clear()  # tokens issued to an earlier test's database are gone
    yield
    token_cache_clear()


@pytest.fixture(params=["signature", "oauth"])
def walmart(request, live_server):
    seller = _walmart(request.param, live_server)
    yield seller
    for backend in seller.backends:
        backend.close()


def _cancel(order_id: str, line_id: str, quantity: int, *, previously: int = 0, ref: int | None = None) -> LineCancel:
    return LineCancel(ref=ref or int(line_id), order_id=order_id, line_id=line_id, quantity=quantity,
                      reason_code="CUSTOMER_REQUESTED_SELLER_TO_CANCEL", previously_cancelled=previously)


def _wait_for_slow_answer() -> None:
    """The sandbox is still sleeping after the client gave up; let it finish before touching the DB."""
    time.sleep(SLOW_DELAY - 2.0 + 0.7)


# ------------------------------------------------------------------------------------------ reads


def test_list_orders_paged(walmart):
    backend = walmart.backend()
    backend.page_size = 3
    pages = list(backend.iter_order_pages(timezone.now() - timedelta(days=7)))
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [o.external_id for page in pages for o in page] == [po for po, *_ in SEED_ORDERS]
    assert walmart.requests_for("list_orders") == 3
    assert all(e.status_code == 200 for e in walmart.exchanges if e.operation == "list_orders")


def test_list_orders_since_now_is_empty(walmart):
    assert list(walmart.backend().iter_order_pages(timezone.now() + timedelta(minutes=1))) == []


def test_get_order_reads_money_taxes_and_statuses(walmart):
    order = walmart.backend().get_order("5801000000022")
    assert (order.currency, order.status, order.tax_mode) == ("CAD", "Acknowledged", "TAX_EXCLUDED")
    towels, mugs, lamp = order.lines
    assert (towels.sku, towels.quantity, towels.unit_price, towels.price) == (
        "WM-TOWEL-BATH", 4, Decimal("12.49"), Decimal("49.96"))
    # A charge has one tax object (the spec): GST and PST of a BC line come as one.
    assert [(t.code, t.amount) for t in towels.taxes] == [("GST+PST", Decimal("6.00"))]
    assert mugs.shipping_price == Decimal("9.99")
    assert [(t.code, t.amount) for t in mugs.shipping_taxes] == [("GST", Decimal("0.50"))]
    assert lamp.cancelled_quantity == 0 and lamp.status == "Acknowledged"
    shipped = walmart.backend().get_order("5801000000044")
    assert shipped.status == "Shipped"
    cancelled = walmart.backend().get_order("5801000000055")
    assert (cancelled.status, cancelled.lines[0].cancelled_quantity) == ("Cancelled", 2)


def test_wire_format_matches_the_mode(walmart):
    walmart.backend().get_order("5801000000011")
    body = walmart.exchanges[-1].response_body
    if walmart.mode == "signature":
        assert '<ns3:order xmlns:ns2="http://walmart.com/mp/orders" xmlns:ns3="http://walmart.com/mp/v3/orders"' in body
    else:
        assert body.startswith('{"order": {"purchaseOrderId": "5801000000011"')


def test_unknown_order_is_a_permanent_404(walmart):
    with pytest.raises(PermanentError) as info:
        walmart.backend().get_order("0000000000000")
    assert (info.value.status_code, info.value.code) == (404, "CONTENT_NOT_FOUND.GMP_ORDER_API")


# ------------------------------------------------------------------------------------------ cancel


def test_cancel_two_lines_in_one_call_then_a_repeat_is_refused(walmart):
    backend = walmart.backend()
    lines = [_cancel("5801000000033", "1", 2), _cancel("5801000000033", "2", 3)]
    result = backend.cancel_lines(lines)
    assert [(r.line_id, r.outcome, r.cancelled_quantity) for r in result.lines] == [
        ("1", LineOutcome.CONFIRMED, 2), ("2", LineOutcome.CONFIRMED, 3),
    ]
    assert walmart.requests_for("cancel") == 1
    order = backend.get_order("5801000000033")
    assert [(line.status, line.cancelled_quantity) for line in order.lines] == [("Cancelled", 2), ("Cancelled", 3)]

    repeat = [_cancel("5801000000033", "1", 2, previously=2), _cancel("5801000000033", "2", 3, previously=3)]
    with pytest.raises(PermanentError) as info:
        backend.cancel_lines(repeat)
    assert info.value.status_code == 400
    assert set(info.value.line_errors) == {"1", "2"}
    assert "already cancelled" in info.value.line_errors["1"][1]


def test_partial_cancel_and_quantity_above_what_is_left(walmart):
    backend = walmart.backend()
    # Line 1 of this order: 3 units, 1 already cancelled by the seller.
    result = backend.cancel_lines([_cancel("5801000000066", "1", 1, previously=1)])
    assert (result.lines[0].outcome, result.lines[0].cancelled_quantity) == (LineOutcome.CONFIRMED, 2)
    with pytest.raises(PermanentError) as info:
        backend.cancel_lines([_cancel("5801000000066", "1", 2, previously=2)])
    assert list(info.value.line_errors) == ["1"]
    assert "only 1 still cancellable" in info.value.message
    assert backend.get_order("5801000000066").lines[0].cancelled_quantity == 2


def test_shipped_line_is_refused_and_the_other_line_not_applied(walmart):
    backend = walmart.backend()
    with pytest.raises(PermanentError) as info:
        backend.cancel_lines([_cancel("5801000000077", "1", 1), _cancel("5801000000077", "2", 1)])
    assert list(info.value.line_errors) == ["2"]
    assert "shipped" in info.value.line_errors["2"][1]
    assert backend.get_order("5801000000077").lines[0].cancelled_quantity == 0  # all or nothing


def test_order_add_for_tests(walmart):
    order_add(walmart.seller, purchase_order_id="TEST-1", lines=[
        {"sku": "A", "quantity": 2, "unit_price": "5.00", "status": "Acknowledged"},
        {"sku": "B", "quantity": 1, "unit_price": "3.50", "status": "Shipped"},
    ])
    order = walmart.backend().get_order("TEST-1")
    assert [(line.sku, line.quantity, line.unit_price, line.status) for line in order.lines] == [
        ("A", 2, Decimal("5.00"), "Acknowledged"), ("B", 1, Decimal("3.50"), "Shipped"),
    ]
    assert SandboxOrder.objects.filter(seller=walmart.seller, external_id="TEST-1").count() == 1


# ------------------------------------------------------------------------------------------ faults


def test_rate_limit_fault(walmart):
    walmart.fault("cancel", FaultKind.RATE_LIMIT, retry_after=4)
    with pytest.raises(TransientError) as info:
        walmart.backend().cancel_lines([_cancel("5801000000011", "1", 1)])
    assert (info.value.status_code, info.value.retry_after) == (429, 4.0)
    assert not info.value.outcome_unknown


def test_server_error_fault(walmart):
    walmart.fault("get_order", FaultKind.SERVER_ERROR)
    with pytest.raises(TransientError) as info:
        walmart.backend().get_order("5801000000011")
    assert info.value.status_code == 500 and info.value.outcome_unknown
    assert walmart.backend().get_order("5801000000011").external_id == "5801000000011"  # one use only


def test_reject_line_fault(walmart):
    walmart.fault("cancel", FaultKind.REJECT_LINE, line_id="2")
    with pytest.raises(PermanentError) as info:
        walmart.backend().cancel_lines([_cancel("5801000000022", "1", 1), _cancel("5801000000022", "2", 1)])
    assert list(info.value.line_errors) == ["2"]
    assert [line.cancelled_quantity for line in walmart.backend().get_order("5801000000022").lines] == [0, 0, 0]


def test_unauthorized_fault(walmart):
    walmart.fault("get_order", FaultKind.UNAUTHORIZED)
    with pytest.raises(AccountError) as info:
        walmart.backend().get_order("5801000000011")
    assert info.value.status_code == 401
    walmart.backend().get_order("5801000000011")
    if walmart.mode == "oauth":  # the refused token was dropped and a new one fetched
        assert walmart.requests_for("token") == 2


def test_slow_fault_times_out_and_is_not_applied(walmart):
    walmart.fault("cancel", FaultKind.SLOW, delay=SLOW_DELAY)
    with pytest.raises(TransientError) as info:  # the read timeout fired: the answer would have been a success
        walmart.backend().cancel_lines([_cancel("5801000000011", "1", 1)])
    assert info.value.outcome_unknown and info.value.code == "timeout"
    _wait_for_slow_answer()
    assert walmart.backend().get_order("5801000000011").lines[0].cancelled_quantity == 0


def test_slow_after_apply_fault_times_out_but_is_applied(walmart):
    walmart.fault("cancel", FaultKind.SLOW_AFTER_APPLY, delay=SLOW_DELAY)
    with pytest.raises(TransientError) as info:
        walmart.backend().cancel_lines([_cancel("5801000000011", "1", 1)])
    assert info.value.outcome_unknown
    _wait_for_slow_answer()
    assert walmart.backend().get_order("5801000000011").lines[0].cancelled_quantity == 1


# ------------------------------------------------------------------------------------------ auth


def test_oauth_token_is_reused_across_calls(live_server):
    walmart = _walmart("oauth", live_server)
    backend = walmart.backend()
    backend.get_order("5801000000011")
    walmart.backend().get_order("5801000000022")
    assert walmart.requests_for("token") == 1
    assert walmart.requests_for("get_order") == 2


def test_wrong_credentials_are_refused(walmart):
    if walmart.mode == "signature":
        wrong = {"private_key": provision.walmart_private_key_generate()}
    else:
        wrong = {"client_secret": "not-the-secret"}
    with pytest.raises(AccountError) as info:
        walmart.backend(**wrong).get_order("5801000000011")
    assert (info.value.status_code, info.value.code) == (401, "UNAUTHORIZED.GMP_GATEWAY_API")


# ------------------------------------------------------------------------------ legacy strictness


def _signed_post(walmart: Walmart, url: str, body: bytes, *, drop: str = "", content_type: str = "application/xml"):
    timestamp = str(int(time.time() * 1000))
    headers = {
        "WM_CONSUMER.ID": walmart.credentials["consumer_id"],
        "WM_CONSUMER.CHANNEL.TYPE": walmart.credentials["channel_type"],
        "WM_SEC.TIMESTAMP": timestamp,
        "WM_SEC.AUTH_SIGNATURE": sign(consumer_id=walmart.credentials["consumer_id"], url=url, method="POST",
                                      timestamp_ms=timestamp, private_key=walmart.credentials["private_key"]),
        "WM_QOS.CORRELATION_ID": str(uuid.uuid4()),
        "WM_SVC.NAME": "Walmart Marketplace",
        "Accept": "application/xml",
        "Content-Type": content_type,
    }
    headers.pop(drop, None)
    return requests.post(url, data=body, headers=headers, timeout=5)


CANCEL_XML = """<?xml version="1.0" encoding="UTF-8"?>
<orderCancellation{ns}><orderLines><orderLine><lineNumber>1</lineNumber><orderLineStatuses><orderLineStatus>
<status>Cancelled</status><cancellationReason>{reason}</cancellationReason>
<statusQuantity><unitOfMeasurement>{unit}</unitOfMeasurement><amount>1</amount></statusQuantity>
</orderLineStatus></orderLineStatuses></orderLine></orderLines></orderCancellation>"""
NS = ' xmlns="http://walmart.com/mp/v3/orders"'


@pytest.mark.parametrize(
    ("body", "drop", "content_type", "status", "code", "text"),
    [
        (CANCEL_XML.format(ns="", reason="CANCEL_BY_SELLER", unit="EACH"), "", "application/xml", 400,
         "INVALID_REQUEST_CONTENT.GMP_ORDER_API", 'uri:"", local:"orderCancellation"'),
        (CANCEL_XML.format(ns=NS, reason="SELLER_CANCEL_OUT_OF_STOCK", unit="EACH"), "", "application/xml", 400,
         "INVALID_REQUEST_CONTENT.GMP_ORDER_API", "line number 1"),
        (CANCEL_XML.format(ns=NS, reason="CANCEL_BY_SELLER", unit="EA"), "", "application/xml", 400,
         "INVALID_REQUEST_CONTENT.GMP_ORDER_API", "unitOfMeasurement must be EACH"),
        (CANCEL_XML.format(ns=NS, reason="CANCEL_BY_SELLER", unit="EACH"), "WM_SVC.NAME", "application/xml", 400,
         "MISSING_REQUEST_HEADER.GMP_ORDER_API", "WM_SVC.NAME"),
        (CANCEL_XML.format(ns=NS, reason="CANCEL_BY_SELLER", unit="EACH"), "WM_CONSUMER.CHANNEL.TYPE",
         "application/xml", 401, "UNAUTHORIZED.GMP_GATEWAY_API", "WM_CONSUMER.CHANNEL.TYPE"),
        (CANCEL_XML.format(ns=NS, reason="CANCEL_BY_SELLER", unit="EACH"), "", "application/json", 415,
         "UNSUPPORTED_MEDIA_TYPE.GMP_ORDER_API", "application/xml"),
    ],
    ids=["unqualified-root", "unknown-reason", "unit-EA", "no-service-name", "no-channel-type", "json-body"],
)
def test_legacy_cancel_validation(live_server, body, drop, content_type, status, code, text):
    walmart = _walmart("signature", live_server)
    url = f"{walmart.base_url}/v3/ca/orders/5801000000011/cancel"
    response = _signed_post(walmart, url, body.encode(), drop=drop, content_type=content_type)
    assert response.status_code == status
    assert code in response.text and text in response.text
    assert walmart.backend().get_order("5801000000011").lines[0].cancelled_quantity == 0
    valid = _signed_post(walmart, url, CANCEL_XML.format(ns=NS, reason="CANCEL_BY_SELLER", unit="EACH").encode())
    assert valid.status_code == 200 and "<ns3:status>Cancelled</ns3:status>" in valid.text


# ------------------------------------------------------------------------------------------ exact amounts


def test_global_json_amounts_are_exact_numbers_and_stored_as_text(live_server):
    walmart = _walmart("oauth", live_server)
    order_add(walmart.seller, purchase_order_id="CENTS-1", lines=[
        {"sku": "CENT", "quantity": 3, "unit_price": "0.10", "shipping_price": "0.20"},
    ])
    stored = SandboxOrder.objects.get(seller=walmart.seller, external_id="CENTS-1").data["lines"][0]
    assert (stored["unit_price"], stored["shipping_price"], stored["taxes"], stored["shipping_taxes"]) == (
        "0.10", "0.20", [{"name": "HST", "amount": "0.04"}], [{"name": "HST", "amount": "0.03"}],
    )

    order = walmart.backend().get_order("CENTS-1")
    body = walmart.exchanges[-1].response_body
    for exact in ('"amount": 0.10', '"amount": 0.20', '"amount": 0.04', '"amount": 0.03'):
        assert exact in body
    assert "0000000" not in body and "9999999" not in body  # no binary-float artefacts
    (line,) = order.lines
    assert (line.unit_price, line.shipping_price, line.taxes[0].amount) == (
        Decimal("0.10"), Decimal("0.20"), Decimal("0.04"),
    )


def test_global_json_reads_amounts_older_versions_stored_as_numbers(live_server):
    walmart = _walmart("oauth", live_server)
    order = SandboxOrder.objects.get(seller=walmart.seller, external_id="5801000000011")
    line = order.data["lines"][0]
    line.update(unit_price=49.99, shipping_price=7.99)  # what an earlier version might have left
    line["taxes"] = [{**t, "amount": float(t["amount"])} for t in line["taxes"]]
    order.save(update_fields=["data"])

    (read,) = walmart.backend().get_order("5801000000011").lines
    body = walmart.exchanges[-1].response_body
    assert '"amount": 49.99' in body and '"amount": 7.99' in body and '"amount": 6.50' in body
    assert (read.unit_price, read.shipping_price, read.taxes[0].amount) == (
        Decimal("49.99"), Decimal("7.99"), Decimal("6.50"),
    )


# ------------------------------------------------------------------------------------------ chaos faults


def test_drop_after_apply_is_an_unknown_outcome_but_applied_and_recorded(walmart):
    walmart.fault("cancel", FaultKind.DROP_AFTER_APPLY)
    with pytest.raises(TransientError) as info:
        walmart.backend().cancel_lines([_cancel("5801000000011", "1", 1)])
    assert info.value.outcome_unknown
    assert walmart.backend().get_order("5801000000011").lines[0].cancelled_quantity == 1
    (record,) = SandboxCancel.objects.filter(seller=walmart.seller)
    assert (record.line_id, record.quantity, record.source) == ("1", 1, SandboxCancel.REQUEST)
    assert SandboxRequest.objects.get(request_id=record.request_id).status_code is None


def test_foreign_cancel_between_sync_and_send(walmart):
    backend = walmart.backend()
    assert backend.get_order("5801000000066").lines[0].cancelled_quantity == 1  # the sync's view: 2 open
    assert foreign_cancel(walmart.seller, "5801000000066", "1", 1) == 1
    with pytest.raises(PermanentError) as info:
        backend.cancel_lines([_cancel("5801000000066", "1", 2, previously=1)])
    assert "only 1 still cancellable" in info.value.message
    assert list(SandboxCancel.objects.values_list("source", "quantity")) == [(SandboxCancel.FOREIGN, 1)]
    walmart.fault("cancel", FaultKind.FOREIGN_CANCEL)
    with pytest.raises(PermanentError):
        backend.cancel_lines([_cancel("5801000000066", "1", 1, previously=2)])
    assert backend.get_order("5801000000066").lines[0].cancelled_quantity == 3
    assert SandboxCancel.objects.filter(source=SandboxCancel.FOREIGN).count() == 2
