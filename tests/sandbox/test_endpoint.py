"""The shared sandbox pipeline: latency and rate-limit knobs, faults, and the record of applied cancels.

Requests are plain ``requests`` calls shaped as the public docs show them, over real sockets (live_server).
"""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal
from types import SimpleNamespace

import pytest
import requests
from django.test import override_settings

from cancellations.sandbox import endpoint
from cancellations.sandbox import mirakl as sandbox
from cancellations.sandbox.models import FaultKind, SandboxCancel, SandboxFault, SandboxOrder, SandboxRequest
from cancellations.sandbox.provision import seller_register

pytestmark = pytest.mark.django_db(transaction=True)
API_KEY = "endpoint-test-key"


@pytest.fixture(autouse=True)
def _fresh_knobs():
    endpoint.knobs_reset()
    yield
    endpoint.knobs_reset()


@pytest.fixture
def seller(transactional_db):
    seller = seller_register(marketplace="mirakl", credentials={"api_key": API_KEY}, options={})
    sandbox.orders_seed(seller)
    return seller


def url(live_server, path: str) -> str:
    return f"{live_server.url}/sandbox/mirakl/api/{path}"


def reasons(live_server) -> requests.Response:
    return requests.get(url(live_server, "reasons"), headers={"Authorization": API_KEY}, timeout=10)


def or30(live_server, *items: dict) -> requests.Response:
    body = {"cancelations": list(items), "order_tax_mode": "TAX_EXCLUDED"}
    return requests.put(url(live_server, "orders/cancel"), data=json.dumps(body), timeout=10,
                        headers={"Authorization": API_KEY, "Content-Type": "application/json"})


def sd_card(quantity: int = 1) -> dict:
    """One unit of BBY-1006-A-1 (19.99, HST 13 % proportional), as a client prices it."""
    return {"order_line_id": "BBY-1006-A-1", "quantity": quantity, "reason_code": "22", "amount": 19.99,
            "shipping_amount": 0, "taxes": [{"code": "HST", "amount": 2.60}]}


def batteries(quantity: int) -> dict:
    """``quantity`` of the 4 units of BBY-1003-A-1 (2.81 each, shipping 3.99, GST 5 % + PST 7 %)."""
    amount = Decimal("2.81") * quantity
    return {"order_line_id": "BBY-1003-A-1", "quantity": quantity, "reason_code": "21", "amount": float(amount),
            "shipping_amount": 0, "taxes": [{"code": "GST", "amount": 0}, {"code": "PST", "amount": 0}],
            "shipping_taxes": [{"code": "GST", "amount": 0}]}


def options_set(seller, **options) -> None:
    seller.options = {**seller.options, **options}
    seller.save(update_fields=["options"])


# ------------------------------------------------------------------------------------------ knobs


def test_latency_knob_holds_every_answer_and_concurrent_calls_overlap(live_server, seller):
    options_set(seller, latency_ms=600)
    durations: list[float] = []

    def one() -> None:
        started = time.monotonic()
        assert reasons(live_server).status_code == 200
        durations.append(time.monotonic() - started)

    started = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
        time.sleep(0.1)  # the test database (shared-cache SQLite) takes one writer at a time; the waits overlap
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    assert len(durations) == 4 and min(durations) >= 0.6
    assert wall < 4 * 0.6  # answered in parallel threads, not one after another


def test_latency_setting_applies_when_the_seller_has_no_option(live_server, seller):
    with override_settings(SANDBOX_LATENCY_MS=1000):
        started = time.monotonic()
        assert reasons(live_server).status_code == 200
        assert time.monotonic() - started >= 1.0
    started = time.monotonic()
    assert reasons(live_server).status_code == 200
    assert time.monotonic() - started < 0.9  # no knob, no wait (a busy machine still answers well within it)


def test_rate_limit_knob_answers_429_with_retry_after_above_the_rate(live_server, seller, monkeypatch):
    clock = [1000.0]  # the buckets' clock stands still between calls, so a busy machine cannot refill them
    monkeypatch.setattr(endpoint, "time", SimpleNamespace(monotonic=lambda: clock[0], sleep=time.sleep))
    options_set(seller, rate_limit_per_second=3)
    statuses = [reasons(live_server) for _ in range(5)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429]
    assert statuses[3].headers["Retry-After"] == "1"
    assert "Too many requests" in statuses[3].json()["message"]
    clock[0] += 1.0
    assert reasons(live_server).status_code == 200  # the bucket refilled


def test_rate_limit_setting_is_per_seller(live_server, seller):
    other_key = "another-shop-key"
    seller_register(marketplace="mirakl", credentials={"api_key": other_key}, options={})
    with override_settings(SANDBOX_RATE_LIMIT_PER_SECOND=1):
        assert reasons(live_server).status_code == 200
        assert reasons(live_server).status_code == 429
        other = requests.get(url(live_server, "reasons"), headers={"Authorization": other_key}, timeout=10)
        assert other.status_code == 200


def test_token_bucket_refills_at_the_rate_and_names_the_wait():
    bucket = endpoint.TokenBuckets()
    assert [bucket.take(1, 2, now=0.0) for _ in range(3)] == [0, 0, 1]
    assert bucket.take(1, 2, now=0.5) == 0  # one token back after 1/rate seconds
    assert bucket.take(1, 2, now=0.5) == 1
    assert bucket.take(2, 0.25, now=0.0) == 0 and bucket.take(2, 0.25, now=0.0) == 4  # slow rate: whole seconds


# ------------------------------------------------------------------------------------------ faults


def test_applied_cancels_are_recorded_with_the_request_that_applied_them(live_server, seller):
    assert or30(live_server, sd_card()).status_code == 200
    (record,) = SandboxCancel.objects.filter(seller=seller)
    assert (record.order_id, record.line_id, record.quantity, record.reason_code, record.source) == (
        "BBY-1006-A", "BBY-1006-A-1", 1, "22", SandboxCancel.REQUEST)
    logged = SandboxRequest.objects.get(request_id=record.request_id)
    assert (logged.operation, logged.status_code) == ("cancel", 200)


def test_drop_after_apply_closes_the_connection_but_the_cancel_is_applied(live_server, seller):
    SandboxFault.objects.create(seller=seller, marketplace="mirakl", operation="cancel",
                                kind=FaultKind.DROP_AFTER_APPLY)
    with pytest.raises(requests.ConnectionError):
        or30(live_server, sd_card())
    assert SandboxCancel.objects.filter(seller=seller, line_id="BBY-1006-A-1").count() == 1
    line = SandboxOrder.objects.get(external_id="BBY-1006-A").data["order_lines"][0]
    assert line["order_line_state"] == "CANCELED"
    assert SandboxRequest.objects.get(operation="cancel").status_code is None  # no answer was given


def test_slow_before_apply_waits_then_applies_and_answers(live_server, seller):
    SandboxFault.objects.create(seller=seller, marketplace="mirakl", operation="cancel",
                                kind=FaultKind.SLOW_BEFORE_APPLY, params={"delay": 0.5})
    started = time.monotonic()
    assert or30(live_server, sd_card()).status_code == 200
    assert time.monotonic() - started >= 0.5
    assert SandboxCancel.objects.filter(seller=seller).count() == 1


def test_foreign_cancel_fault_cancels_a_unit_first_then_the_request_is_refused_for_the_rest(live_server, seller):
    SandboxFault.objects.create(seller=seller, marketplace="mirakl", operation="cancel",
                                kind=FaultKind.FOREIGN_CANCEL, params={"quantity": 1})
    answer = or30(live_server, batteries(4))
    assert answer.status_code == 400
    assert "Order line 'BBY-1003-A-1': quantity 4 is more than the 3 units left" in answer.json()["message"]
    (foreign,) = SandboxCancel.objects.filter(seller=seller)
    assert (foreign.source, foreign.quantity, foreign.reason_code, foreign.request_id) == (
        SandboxCancel.FOREIGN, 1, sandbox.FOREIGN_REASON, "")
    line = SandboxOrder.objects.get(external_id="BBY-1003-A").data["order_lines"][0]
    (entry,) = line["cancelations"]
    assert (entry["amount"], entry["reason_code"]) == ("2.81", sandbox.FOREIGN_REASON)
    assert {t["code"]: t["amount"] for t in entry["taxes"]} == {"GST": "0.14", "PST": "0.20"}


def test_foreign_cancel_hook_takes_the_exact_remainder_with_the_last_units(seller):
    assert sandbox.foreign_cancel(seller, "BBY-1003-A", "BBY-1003-A-1", 3) == 3
    assert sandbox.foreign_cancel(seller, "BBY-1003-A", "BBY-1003-A-1", 5) == 1
    assert sandbox.foreign_cancel(seller, "BBY-1003-A", "BBY-1003-A-1", 1) == 0
    line = SandboxOrder.objects.get(external_id="BBY-1003-A").data["order_lines"][0]
    assert line["order_line_state"] == "CANCELED"
    total = sum(Decimal(c["amount"]) for c in line["cancelations"])
    shipping = sum(Decimal(c["shipping_amount"]) for c in line["cancelations"])
    assert (total, shipping) == (Decimal(line["price"]), Decimal(line["shipping_price"]))
    assert list(SandboxCancel.objects.values_list("quantity", flat=True)) == [3, 1]


@pytest.mark.parametrize("kind", [FaultKind.SERVER_ERROR, FaultKind.RATE_LIMIT, FaultKind.REJECT_LINE])
def test_faults_that_answer_at_once_apply_nothing(live_server, seller, kind):
    SandboxFault.objects.create(seller=seller, marketplace="mirakl", operation="cancel", kind=kind)
    answer = or30(live_server, sd_card())
    assert answer.status_code == {"server_error": 500, "rate_limit": 429, "reject_line": 400}[kind]
    assert not SandboxCancel.objects.exists()


def test_chaos_draws_seeded_faults_reproducibly(live_server, seller):
    options_set(seller, chaos={"seed": 11, "rates": {"server_error": 0.5}, "operations": ["reasons"]})

    def run() -> list[int]:
        return [reasons(live_server).status_code for _ in range(12)]

    first = run()
    endpoint.knobs_reset()
    assert run() == first
    assert set(first) == {200, 500}
    assert reasons(live_server).status_code in (200, 500)
    assert requests.get(url(live_server, "orders"), headers={"Authorization": API_KEY},
                        timeout=10).status_code == 200  # other operations are left alone
