"""The sandbox answers a cancel in a fixed number of SQL statements, however many lines and orders it names.

The benchmarks serve the sandbox in the measuring process, on the same cores as the workers they measure:
each statement per line was CPU taken from them (an OR30 of 100 lines ran 138 statements). Straight through
Django's test client, so the statements counted are the request's own.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cancellations.marketplaces.walmart_ca.signing import sign
from cancellations.sandbox import mirakl, provision, walmart
from cancellations.sandbox.models import (
    FaultKind,
    SandboxCancel,
    SandboxFault,
    SandboxOrder,
    SandboxToken,
    secret_digest,
)

pytestmark = pytest.mark.django_db

MIRAKL_KEY = "statements-mirakl-key"
WALMART_TOKEN = "statements-walmart-token"


def statements(send) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as queries:
        response = send()
    return len(queries), response


def test_mirakl_or30_statements_do_not_grow_with_its_lines_and_orders(client):
    seller = provision.seller_register(marketplace="mirakl", credentials={"api_key": MIRAKL_KEY}, options={})
    mirakl.orders_seed(seller)

    def or30(*line_ids: str):
        items = [{"order_line_id": line_id, "quantity": 1, "reason_code": "21", "amount": 1.00,
                  "shipping_amount": 0, "taxes": [], "shipping_taxes": []} for line_id in line_ids]
        return lambda: client.put("/sandbox/mirakl/api/orders/cancel", data=json.dumps({"cancelations": items}),
                                  content_type="application/json", headers={"Authorization": MIRAKL_KEY})

    one, answer = statements(or30("BBY-1001-A-1"))
    assert answer.status_code == 200, answer.content
    many, answer = statements(or30("BBY-1002-A-1", "BBY-1002-A-2", "BBY-1003-A-1", "BBY-1006-A-2", "BBY-1006-A-3"))
    assert answer.status_code == 200, answer.content

    assert many == one
    assert [c["cancelation_id"] for c in answer.json()["cancelations"]] == [
        "BBY-1002-A-1-C1", "BBY-1002-A-2-C1", "BBY-1003-A-1-C1", "BBY-1006-A-2-C1", "BBY-1006-A-3-C1"]
    assert list(SandboxCancel.objects.values_list("line_id", flat=True)) == [
        "BBY-1001-A-1", "BBY-1002-A-1", "BBY-1002-A-2", "BBY-1003-A-1", "BBY-1006-A-2", "BBY-1006-A-3"]
    for order_id, line_ids in (("BBY-1002-A", ("BBY-1002-A-1", "BBY-1002-A-2")), ("BBY-1006-A", ("BBY-1006-A-2",))):
        data = SandboxOrder.objects.get(seller=seller, external_id=order_id).data
        lines = {ln["order_line_id"]: ln for ln in data["order_lines"]}
        assert all(len(lines[i]["cancelations"]) == 1 for i in line_ids)
        assert data["last_updated_date"] == lines[line_ids[0]]["last_updated_date"]
    whole = SandboxOrder.objects.get(seller=seller, external_id="BBY-1003-A").data
    assert whole["order_lines"][0]["cancelations"][0]["quantity"] == 1


def test_walmart_cancel_statements_do_not_grow_with_its_lines(client):
    seller = provision.seller_register(
        marketplace="walmart_ca", credentials={"auth": "oauth", "client_id": "statements", "client_secret": "s"},
        options={"auth": "oauth"})
    SandboxToken.objects.create(seller=seller, token_sha256=secret_digest(WALMART_TOKEN),
                                expires_at=timezone.now() + timedelta(minutes=15))
    for order_id in ("PO-1", "PO-2"):
        walmart.order_add(seller, purchase_order_id=order_id, lines=[
            {"sku": f"{order_id}-{n}", "quantity": 2, "unit_price": "9.99"} for n in range(3)])

    def cancel(order_id: str, *line_numbers: str):
        body = {"orderCancellation": {"orderLines": {"orderLine": [
            {"lineNumber": number, "orderLineStatuses": {"orderLineStatus": [{
                "status": "Cancelled", "cancellationReason": "CUSTOMER_REQUESTED_SELLER_TO_CANCEL",
                "statusQuantity": {"unitOfMeasurement": "EACH", "amount": "1"}}]}}
            for number in line_numbers]}}}
        return lambda: client.post(
            f"/sandbox/walmart/v3/orders/{order_id}/cancel", data=json.dumps(body), content_type="application/json",
            headers={"WM_SEC.ACCESS_TOKEN": WALMART_TOKEN, "WM_QOS.CORRELATION_ID": "c-1", "WM_MARKET": "ca",
                     "WM_SVC.NAME": "Walmart Marketplace", "Accept": "application/json"})

    one, answer = statements(cancel("PO-1", "1"))
    assert answer.status_code == 200, answer.content
    three, answer = statements(cancel("PO-2", "1", "2", "3"))
    assert answer.status_code == 200, answer.content

    assert three == one
    assert list(SandboxCancel.objects.values_list("order_id", "line_id")) == [
        ("PO-1", "1"), ("PO-2", "1"), ("PO-2", "2"), ("PO-2", "3")]
    lines = answer.json()["order"]["orderLines"]["orderLine"]
    statuses = [line["orderLineStatuses"]["orderLineStatus"] for line in lines]
    assert all({"status": "Cancelled", "statusQuantity": {"unitOfMeasurement": "EACH", "amount": "1"},
                "cancellationReason": "CUSTOMER_REQUESTED_SELLER_TO_CANCEL"} in line for line in statuses)


def test_the_fault_check_is_read_with_the_seller_not_on_its_own(client):
    """Every call checks for a fault to inject; with none waiting (the usual case) that costs no statement of
    its own: the authentication query carries it."""
    seller = provision.seller_register(marketplace="mirakl", credentials={"api_key": MIRAKL_KEY}, options={})
    mirakl.orders_seed(seller)
    walmart_seller = provision.seller_register(
        marketplace="walmart_ca", credentials={"auth": "oauth", "client_id": "statements", "client_secret": "s"},
        options={"auth": "oauth"})
    walmart.orders_seed(walmart_seller)
    SandboxToken.objects.create(seller=walmart_seller, token_sha256=secret_digest(WALMART_TOKEN),
                                expires_at=timezone.now() + timedelta(minutes=15))
    wm = {"WM_QOS.CORRELATION_ID": "c-1", "WM_SVC.NAME": "Walmart Marketplace", "Accept": "application/json"}
    reads = {
        "mirakl OR11": lambda: client.get("/sandbox/mirakl/api/orders", headers={"Authorization": MIRAKL_KEY}),
        "walmart token": lambda: client.post(
            "/sandbox/walmart/v3/token", data={"grant_type": "client_credentials"},
            headers={"Authorization": "Basic c3RhdGVtZW50czpz", **wm}),  # base64("statements:s")
        "walmart order": lambda: client.get(
            "/sandbox/walmart/v3/orders/5801000000011",
            headers={"WM_SEC.ACCESS_TOKEN": WALMART_TOKEN, "WM_MARKET": "ca", **wm}),
    }
    for name, read in reads.items():
        with CaptureQueriesContext(connection) as queries:
            answer = read()
        assert answer.status_code == 200, (name, answer.content)
        alone = [q["sql"] for q in queries
                 if "sandbox_sandboxfault" in q["sql"] and "sandbox_sandboxseller" not in q["sql"]]
        assert alone == [], name


@pytest.mark.parametrize("path", ["mirakl key", "walmart token", "walmart client credentials", "walmart signature"])
def test_a_waiting_fault_is_seen_through_every_authentication_query(client, path):
    """The fault check read with the seller names the seller's table as each authentication query has it."""
    wm = {"WM_QOS.CORRELATION_ID": "c-1", "WM_SVC.NAME": "Walmart Marketplace", "Accept": "application/json"}
    if path == "mirakl key":
        seller = provision.seller_register(marketplace="mirakl", credentials={"api_key": MIRAKL_KEY}, options={})
        operation, send = "reasons", lambda: client.get("/sandbox/mirakl/api/reasons",
                                                        headers={"Authorization": MIRAKL_KEY})
    elif path == "walmart signature":
        key = provision.walmart_private_key_generate()
        seller = provision.seller_register(marketplace="walmart_ca", options={"auth": "signature"}, credentials={
            "auth": "signature", "consumer_id": "statements", "channel_type": "c", "private_key": key})
        url = "http://testserver/sandbox/walmart/v3/ca/orders/5801000000011"
        stamp = str(int(timezone.now().timestamp() * 1000))
        operation, send = "get_order", lambda: client.get(url, headers={
            "WM_CONSUMER.ID": "statements", "WM_CONSUMER.CHANNEL.TYPE": "c", "WM_SEC.TIMESTAMP": stamp,
            "WM_SEC.AUTH_SIGNATURE": sign(consumer_id="statements", url=url, method="GET", timestamp_ms=stamp,
                                          private_key=key), **wm})
    else:
        seller = provision.seller_register(
            marketplace="walmart_ca", credentials={"auth": "oauth", "client_id": "statements", "client_secret": "s"},
            options={"auth": "oauth"})
        if path == "walmart token":
            SandboxToken.objects.create(seller=seller, token_sha256=secret_digest(WALMART_TOKEN),
                                        expires_at=timezone.now() + timedelta(minutes=15))
            operation, send = "get_order", lambda: client.get(
                "/sandbox/walmart/v3/orders/5801000000011",
                headers={"WM_SEC.ACCESS_TOKEN": WALMART_TOKEN, "WM_MARKET": "ca", **wm})
        else:
            operation, send = "token", lambda: client.post(
                "/sandbox/walmart/v3/token", data={"grant_type": "client_credentials"},
                headers={"Authorization": "Basic c3RhdGVtZW50czpz", **wm})  # base64("statements:s")
    if seller.marketplace == "walmart_ca":
        walmart.orders_seed(seller)
    SandboxFault.objects.create(seller=None, marketplace=seller.marketplace, operation="other",
                                kind=FaultKind.SERVER_ERROR)
    assert send().status_code == 200  # a fault for another operation is not this one's
    SandboxFault.objects.create(seller=seller, marketplace=seller.marketplace, operation=operation,
                                kind=FaultKind.RATE_LIMIT, params={"retry_after": 7})
    answer = send()
    assert (answer.status_code, answer["Retry-After"]) == (429, "7")
    assert send().status_code == 200  # used up
