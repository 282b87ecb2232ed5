"""The Mirakl sandbox against calls shaped as Mirakl's seller API documents them (OR11, OR21, OR29, OR30).

Plain ``requests`` over real sockets, as a third-party client would call it: ``Authorization: <key>``, no
``shop_id`` unless said, bodies as the field lists of the docs. Nothing goes through our Mirakl client.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from cancellations.sandbox import mirakl as sandbox
from cancellations.sandbox.models import SandboxCancel, SandboxOrder
from cancellations.sandbox.provision import seller_register

pytestmark = pytest.mark.django_db(transaction=True)
API_KEY = "public-client-key"


@pytest.fixture
def seller(transactional_db):
    seller = seller_register(marketplace="mirakl", credentials={"api_key": API_KEY}, options={"shop_id": "2001"})
    sandbox.orders_seed(seller)
    return seller


@pytest.fixture
def api(live_server):
    base = f"{live_server.url}/sandbox/mirakl/api"

    def call(method: str, path: str, body: dict | None = None, **params) -> requests.Response:
        return requests.request(method, f"{base}/{path}", params=params, timeout=10,
                                data=json.dumps(body) if body is not None else None,
                                headers={"Authorization": API_KEY, "Accept": "application/json",
                                         **({"Content-Type": "application/json"} if body is not None else {})})

    return call


def order_state(order_id: str) -> tuple[str, list[str]]:
    data = SandboxOrder.objects.get(external_id=order_id).data
    return data["order_state"], [ln["order_line_state"] for ln in data["order_lines"]]


# ------------------------------------------------------------------------------------------ OR11


def test_or11_without_shop_id_uses_the_keys_default_shop(api, seller):
    answer = api("GET", "orders")
    assert answer.status_code == 200, answer.text
    assert answer.json()["total_count"] == len(sandbox.SEED_ORDERS)


def test_or11_orders_carry_customer_can_shop_ship_offer_id_and_fees(api, seller):
    (order,) = api("GET", "orders", order_ids="BBY-1008-A").json()["orders"]
    customer = order["customer"]
    assert customer["firstname"] and customer["lastname"]
    for address in ("billing_address", "shipping_address"):
        assert {"street_1", "city", "zip_code", "country_iso_code"} <= set(customer[address])
    assert order["can_shop_ship"] is True and order["can_cancel"] is True
    (line,) = order["order_lines"]
    assert isinstance(line["offer_id"], int)
    assert line["fees"] == [{"code": "CARD_FEE", "amount": 9.0}, {"code": "EHF", "amount": 1.35}]
    waiting = api("GET", "orders", order_ids="BBY-1007-A").json()["orders"][0]
    assert waiting["can_shop_ship"] is False


@pytest.mark.parametrize(("params", "expected"), [
    ({"order_state_codes": "WAITING_ACCEPTANCE"}, {"BBY-1007-A"}),
    ({"order_state_codes": "SHIPPED,CANCELED"}, {"BBY-1004-A", "BBY-1005-A"}),
    ({"order_ids": "BBY-1001-A,BBY-1003-A"}, {"BBY-1001-A", "BBY-1003-A"}),
], ids=["one-state", "two-states", "order-ids"])
def test_or11_filters(api, seller, params, expected):
    answer = api("GET", "orders", **params)
    assert answer.status_code == 200, answer.text
    assert {o["order_id"] for o in answer.json()["orders"]} == expected


def test_or11_date_filters_on_creation_and_update(api, seller):
    old = sandbox.order_add(seller, order_id="OLD-1-A", lines=[{"quantity": 1}],
                            created_at=timezone.now() - timedelta(days=30))
    cutoff = (timezone.now() - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "OLD-1-A" not in {o["order_id"] for o in api("GET", "orders", start_date=cutoff, max=100).json()["orders"]}
    assert {o["order_id"] for o in api("GET", "orders", end_date=cutoff).json()["orders"]} == {"OLD-1-A"}
    assert {o["order_id"] for o in api("GET", "orders", end_update_date=cutoff).json()["orders"]} == {"OLD-1-A"}
    SandboxOrder.objects.filter(pk=old.pk).update(updated_at=timezone.now())
    updated = api("GET", "orders", start_update_date=cutoff, max=100).json()["orders"]
    assert "OLD-1-A" in {o["order_id"] for o in updated}
    refused = api("GET", "orders", order_state_codes="SHIPING")
    assert refused.status_code == 400 and "SHIPING" in refused.json()["message"]


# ------------------------------------------------------------------------------------------ OR21


def test_or21_refusing_one_waiting_line_needs_a_decision_on_the_other(api, seller):
    answer = api("PUT", "orders/BBY-1007-A/accept", {"order_lines": [{"accepted": False, "id": "BBY-1007-A-1"}]})
    assert answer.status_code == 400
    assert "Order line 'BBY-1007-A-2': ORDER_LINE_ACCEPTANCE_DECISION_MISSING" in answer.json()["message"]
    assert order_state("BBY-1007-A") == ("WAITING_ACCEPTANCE", ["WAITING_ACCEPTANCE", "WAITING_ACCEPTANCE"])
    assert not SandboxCancel.objects.exists()


def test_or21_refuse_one_accept_the_other(api, seller):
    answer = api("PUT", "orders/BBY-1007-A/accept", {"order_lines": [
        {"accepted": False, "id": "BBY-1007-A-1"}, {"accepted": True, "id": "BBY-1007-A-2"}]})
    assert answer.status_code == 204 and answer.content == b""
    assert order_state("BBY-1007-A") == ("WAITING_DEBIT", ["REFUSED", "WAITING_DEBIT"])
    (record,) = SandboxCancel.objects.all()
    assert (record.line_id, record.quantity, record.operation) == ("BBY-1007-A-1", 2, "refuse")
    again = api("PUT", "orders/BBY-1007-A/accept", {"order_lines": [{"accepted": False, "id": "BBY-1007-A-2"}]})
    assert again.status_code == 400 and "not WAITING_ACCEPTANCE" in again.json()["message"]


def test_or21_refusing_every_line_refuses_the_order(api, seller):
    answer = api("PUT", "orders/BBY-1007-A/accept", {"order_lines": [
        {"accepted": False, "id": "BBY-1007-A-1"}, {"accepted": False, "id": "BBY-1007-A-2"}]})
    assert answer.status_code == 204
    assert order_state("BBY-1007-A") == ("REFUSED", ["REFUSED", "REFUSED"])
    assert sorted(SandboxCancel.objects.values_list("line_id", "quantity")) == [("BBY-1007-A-1", 2),
                                                                                 ("BBY-1007-A-2", 1)]


def test_or21_mixed_decisions_refused_when_partial_acceptance_is_off(api, seller):
    seller.options = {"partial_acceptance": False}
    seller.save()
    answer = api("PUT", "orders/BBY-1007-A/accept", {"order_lines": [
        {"accepted": False, "id": "BBY-1007-A-1"}, {"accepted": True, "id": "BBY-1007-A-2"}]})
    assert answer.status_code == 400 and "Partial acceptance is not enabled" in answer.json()["message"]


# ------------------------------------------------------------------------------------------ OR29 / OR30


def test_or29_cancels_a_whole_order_not_yet_debited(api, seller):
    answer = api("PUT", "orders/BBY-1002-A/cancel")
    assert answer.status_code == 204 and answer.content == b""
    assert order_state("BBY-1002-A") == ("CANCELED", ["CANCELED", "CANCELED"])
    assert sorted(SandboxCancel.objects.values_list("line_id", "quantity", "operation")) == [
        ("BBY-1002-A-1", 3, "cancel_order"), ("BBY-1002-A-2", 2, "cancel_order")]
    assert api("PUT", "orders/BBY-1002-A/cancel").status_code == 400  # nothing left to cancel
    shipped = api("PUT", "orders/BBY-1004-A/cancel")
    assert shipped.status_code == 400 and "SHIPPED" in shipped.json()["message"]


def test_or29_and_or30_refuse_an_order_already_debited(api, seller):
    sandbox.order_add(seller, order_id="PAID-1-A", lines=[{"quantity": 2}], debited=True,
                      payment_workflow="PAY_ON_ACCEPTANCE")
    assert api("PUT", "orders/PAID-1-A/cancel").status_code == 400
    item = {"order_line_id": "PAID-1-A-1", "quantity": 1, "reason_code": "21", "amount": 10, "shipping_amount": 0}
    answer = api("PUT", "orders/cancel", {"cancelations": [item]})
    assert answer.status_code == 400 and "already debited" in answer.json()["message"]


def test_or30_refused_when_shop_partial_cancelation_is_off(api, seller):
    seller.options = {"partial_cancelation": False}
    seller.save()
    item = {"order_line_id": "BBY-1006-A-1", "quantity": 1, "reason_code": "22", "amount": 19.99,
            "shipping_amount": 0, "taxes": [{"code": "HST", "amount": 2.60}]}
    answer = api("PUT", "orders/cancel", {"cancelations": [item]})
    assert answer.status_code == 400 and "partial cancelation is not enabled" in answer.json()["message"]
    assert api("PUT", "orders/BBY-1006-A/cancel").status_code == 204  # OR29 still works


def test_or30_cancels_fees_with_the_line(api, seller):
    item = {"order_line_id": "BBY-1008-A-1", "quantity": 1, "reason_code": "22", "amount": 899.00,
            "shipping_amount": 0, "taxes": [{"code": "HST", "amount": 116.87}],
            "fees": [{"code": "CARD_FEE", "amount": 4.50}, {"code": "EHF", "amount": 0.68}]}
    answer = api("PUT", "orders/cancel", {"cancelations": [item], "order_tax_mode": "TAX_EXCLUDED"})
    assert answer.status_code == 200, answer.text
    (created,) = answer.json()["cancelations"]
    assert created["fees"] == [{"amount": 4.5, "code": "CARD_FEE"}, {"amount": 0.68, "code": "EHF"}]
    line = SandboxOrder.objects.get(external_id="BBY-1008-A").data["order_lines"][0]
    assert line["cancelations"][0]["fees"] == [{"amount": "4.50", "code": "CARD_FEE"},
                                               {"amount": "0.68", "code": "EHF"}]
    too_much = {**item, "fees": [{"code": "EHF", "amount": 0.68}]}  # only 0.67 left
    refused = api("PUT", "orders/cancel", {"cancelations": [too_much]})
    assert refused.status_code == 400 and "fees EHF 0.68 is more than the 0.67 left" in refused.json()["message"]
