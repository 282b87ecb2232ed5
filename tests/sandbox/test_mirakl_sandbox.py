"""The Mirakl backend against the Mirakl sandbox over real sockets (live_server).

Orders are the sandbox's synthetic seed; amounts are computed with ``pricing`` from the order as OR11
returns it, as the service layer does.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from cancellations import pricing
from cancellations.jsonexact import json_dumps_exact
from cancellations.marketplaces.base import (
    AccountConfig,
    AccountError,
    LineCancel,
    LineOutcome,
    MarketplaceOrderLine,
    PermanentError,
    TransientError,
)
from cancellations.marketplaces.mirakl import backend as mirakl_backend
from cancellations.marketplaces.mirakl.backend import MiraklBackend
from cancellations.sandbox import mirakl as sandbox
from cancellations.sandbox.models import FaultKind, SandboxFault, SandboxOrder, SandboxRequest
from cancellations.sandbox.provision import seller_register

D = Decimal
API_KEY = "sandbox-mirakl-key-0042"
SHOP_ID = "2001"


@pytest.fixture
def seller(transactional_db):
    seller = seller_register(marketplace="mirakl", credentials={"api_key": API_KEY}, options={"shop_id": SHOP_ID})
    sandbox.orders_seed(seller)
    return seller


def make_backend(live_server, *, api_key=API_KEY, shop_id=SHOP_ID, exchanges=None) -> MiraklBackend:
    account = AccountConfig(
        name="bby-sandbox", marketplace="mirakl", base_url=f"{live_server.url}/sandbox/mirakl",
        credentials={"api_key": api_key}, options={"shop_id": shop_id} if shop_id else {},
    )
    return MiraklBackend(account, on_exchange=exchanges.append if exchanges is not None else None)


@pytest.fixture
def backend(live_server, seller) -> MiraklBackend:
    return make_backend(live_server)


def already_of(line: MarketplaceOrderLine) -> pricing.AlreadyCancelled:
    already = pricing.AlreadyCancelled()
    for c in line.cancellations:
        already = pricing.amounts_add(
            already,
            pricing.CancelAmounts(c.amount, c.shipping_amount, c.taxes, c.shipping_taxes),
            c.quantity,
        )
    return already


def cancel_of(backend: MiraklBackend, order_id: str, line_id: str, quantity: int, ref: int,
              reason: str = "21") -> LineCancel:
    """Price ``quantity`` units of a line from the order as the sandbox reports it now."""
    order = backend.get_order(order_id)
    line = next(ln for ln in order.lines if ln.external_id == line_id)
    money = pricing.LineMoney(
        quantity=line.quantity, price=line.price, shipping_price=line.shipping_price,
        taxes=line.taxes,
        shipping_taxes=line.shipping_taxes,
    )
    amounts = pricing.cancellation_amounts(money, already_of(line), quantity)
    return LineCancel(
        ref=ref, order_id=order_id, line_id=line_id, quantity=quantity, reason_code=reason,
        amount=amounts.amount, shipping_amount=amounts.shipping_amount, taxes=amounts.taxes,
        shipping_taxes=amounts.shipping_taxes, currency=order.currency, tax_mode=order.tax_mode,
    )


def fault_add(seller, kind, operation="cancel", **params) -> SandboxFault:
    return SandboxFault.objects.create(seller=seller, marketplace="mirakl", operation=operation, kind=kind,
                                       params=params)


def line_data(order_id: str, line_id: str) -> dict:
    data = SandboxOrder.objects.get(external_id=order_id).data
    return next(ln for ln in data["order_lines"] if ln["order_line_id"] == line_id)


# ------------------------------------------------------------------------------------------ reads


def test_seed_is_idempotent(seller):
    first = sandbox.orders_seed(seller)
    again = sandbox.orders_seed(seller)
    assert [o.pk for o in first] == [o.pk for o in again]
    assert SandboxOrder.objects.filter(seller=seller).count() == len(sandbox.SEED_ORDERS)


def test_list_orders_paged(backend, seller, monkeypatch):
    monkeypatch.setattr(mirakl_backend, "PAGE_SIZE", 4)
    old = sandbox.order_add(seller, order_id="OLD-1-A", lines=[{"quantity": 1}],
                            created_at=timezone.now() - timedelta(days=30))

    pages = list(backend.iter_order_pages(timezone.now() - timedelta(days=1)))

    assert [len(p) for p in pages] == [4, 4]
    ids = [o.external_id for p in pages for o in p]
    assert ids == [o["order_id"] for o in sandbox.SEED_ORDERS]
    assert old.external_id not in ids
    logged = list(SandboxRequest.objects.filter(operation="list_orders").values_list("path", flat=True))
    assert len(logged) == 2 and all("shop_id=2001" in p and API_KEY not in p for p in logged)


def test_get_one_order(backend):
    order = backend.get_order("BBY-1002-A")
    assert (order.status, order.currency, order.tax_mode) == ("SHIPPING", "CAD", "TAX_EXCLUDED")
    first, second = order.lines
    assert (first.external_id, first.quantity, first.price, first.shipping_price) == (
        "BBY-1002-A-1", 3, D("30.00"), D("6.00")
    )
    assert [(t.code, t.amount, t.rule) for t in first.taxes] == [("HST", D("3.90"), "PROPORTIONAL_TO_AMOUNT")]
    assert [(t.code, t.amount) for t in first.shipping_taxes] == [("HST", D("0.78"))]
    assert [(t.code, t.rule) for t in second.taxes] == [("HST", "NONE")]
    cancelled = backend.get_order("BBY-1005-A")
    assert cancelled.status == "CANCELED" and cancelled.lines[0].cancelled_quantity == 1


def test_reasons_are_the_shop_cancelation_ones(backend):
    codes = [r.code for r in backend.list_reasons()]
    assert codes == ["21", "22", "23", "24"]  # not "29" (operator only) nor refund reasons


# ------------------------------------------------------------------------------------------ OR30


def test_cancel_lines_of_two_orders_then_the_remainder(backend):
    partial = cancel_of(backend, "BBY-1002-A", "BBY-1002-A-1", 1, ref=1)
    whole = cancel_of(backend, "BBY-1003-A", "BBY-1003-A-1", 4, ref=2)
    assert (partial.amount, partial.shipping_amount) == (D("10.00"), D("2.00"))

    result = backend.cancel_lines([partial, whole])

    assert [(r.ref, r.outcome, r.marketplace_reference) for r in result.lines] == [
        (1, LineOutcome.CONFIRMED, "BBY-1002-A-1-C1"), (2, LineOutcome.CONFIRMED, "BBY-1003-A-1-C1"),
    ]
    line = backend.get_order("BBY-1002-A").lines[0]
    (c,) = line.cancellations
    assert (c.amount, c.shipping_amount, c.quantity, c.reason_code) == (D("10.00"), D("2.00"), 1, "21")
    assert [(t.code, t.amount) for t in c.taxes] == [("HST", D("1.30"))]
    assert [(t.code, t.amount) for t in c.shipping_taxes] == [("HST", D("0.26"))]
    assert line.status == "SHIPPING"
    done = backend.get_order("BBY-1003-A")
    assert done.status == "CANCELED" and done.lines[0].status == "CANCELED"

    rest = cancel_of(backend, "BBY-1002-A", "BBY-1002-A-1", 2, ref=3)
    assert (rest.amount, rest.shipping_amount) == (D("20.00"), D("4.00"))
    assert [(t.code, t.amount) for t in rest.taxes] == [("HST", D("2.60"))]
    assert [(t.code, t.amount) for t in rest.shipping_taxes] == [("HST", D("0.52"))]
    (confirmed,) = backend.cancel_lines([rest]).lines
    assert confirmed.marketplace_reference == "BBY-1002-A-1-C2"
    line = backend.get_order("BBY-1002-A").lines[0]
    assert line.status == "CANCELED" and line.cancelled_quantity == 3
    assert sum(c.amount for c in line.cancellations) == line.price
    assert backend.get_order("BBY-1002-A").status == "SHIPPING"  # its second line is still open

    again = LineCancel(ref=4, order_id="BBY-1002-A", line_id="BBY-1002-A-1", quantity=1, reason_code="21",
                       amount=D("0.00"), currency="CAD", tax_mode="TAX_EXCLUDED")
    with pytest.raises(PermanentError) as info:
        backend.cancel_lines([again])
    assert set(info.value.line_errors) == {"BBY-1002-A-1"}
    assert "CANCELED" in info.value.line_errors["BBY-1002-A-1"][1]


def test_repeat_over_more_than_the_remainder_is_refused(backend):
    backend.cancel_lines([cancel_of(backend, "BBY-1006-A", "BBY-1006-A-3", 3, ref=1)])
    too_many = cancel_of(backend, "BBY-1006-A", "BBY-1006-A-3", 2, ref=2)
    over = replace(too_many, quantity=3)
    with pytest.raises(PermanentError) as info:
        backend.cancel_lines([over])
    assert "units left" in info.value.line_errors["BBY-1006-A-3"][1]

    greedy = replace(too_many, amount=too_many.amount + D("0.01"))
    with pytest.raises(PermanentError) as info:
        backend.cancel_lines([greedy])
    assert "amount" in info.value.line_errors["BBY-1006-A-3"][1]
    assert len(line_data("BBY-1006-A", "BBY-1006-A-3")["cancelations"]) == 1


def test_one_bad_line_refuses_the_whole_call(backend):
    good = cancel_of(backend, "BBY-1001-A", "BBY-1001-A-1", 1, ref=1)
    shipped = cancel_of(backend, "BBY-1004-A", "BBY-1004-A-1", 1, ref=2)
    not_shop_reason = cancel_of(backend, "BBY-1006-A", "BBY-1006-A-1", 1, ref=3, reason="29")
    with pytest.raises(PermanentError) as info:
        backend.cancel_lines([good, shipped, not_shop_reason])
    assert set(info.value.line_errors) == {"BBY-1004-A-1", "BBY-1006-A-1"}
    assert "SHIPPED" in info.value.line_errors["BBY-1004-A-1"][1]
    assert "reason code '29'" in info.value.line_errors["BBY-1006-A-1"][1]
    assert line_data("BBY-1001-A", "BBY-1001-A-1")["cancelations"] == []


def test_unsent_proportional_tax_is_computed_and_unsent_none_tax_is_not_cancelled(backend):
    priced = cancel_of(backend, "BBY-1001-A", "BBY-1001-A-1", 1, ref=1)
    # taxes must be present (the line has some); GST (proportional) left out is computed, PST (NONE) is not
    pst = next(t for t in priced.taxes if t.code == "PST")
    backend.cancel_lines([replace(priced, taxes=(replace(pst, amount=D("0.00")),))])
    (c,) = backend.get_order("BBY-1001-A").lines[0].cancellations
    assert {t.code: t.amount for t in c.taxes} == {"GST": D("65.00"), "PST": D("0.00")}  # PST (NONE): as sent
    assert [(t.code, t.amount) for t in c.shipping_taxes] == [("GST", D("1.25"))]


def test_bad_key_and_wrong_shop_are_account_errors(live_server, seller):
    with pytest.raises(AccountError) as info:
        make_backend(live_server, api_key="not-the-key").list_reasons()
    assert info.value.status_code == 401
    with pytest.raises(AccountError) as info:
        make_backend(live_server, shop_id="9999").list_reasons()
    assert info.value.status_code == 403
    # No shop_id: the key's default shop answers (Mirakl: "the shop_id from your default shop will be used").
    assert make_backend(live_server, shop_id=None).list_reasons()


def test_exchanges_with_the_sandbox_never_hold_the_key(live_server, seller):
    exchanges = []
    b = make_backend(live_server, exchanges=exchanges)
    b.cancel_lines([cancel_of(b, "BBY-1001-A", "BBY-1001-A-1", 1, ref=1)])
    assert {e.operation for e in exchanges} == {"get_order", "cancel"}
    assert all(API_KEY not in repr(e) for e in exchanges)


# ------------------------------------------------------------------------------------------ faults


def test_rate_limit_fault(backend, seller):
    fault_add(seller, FaultKind.RATE_LIMIT, retry_after=2)
    line = cancel_of(backend, "BBY-1001-A", "BBY-1001-A-1", 1, ref=1)
    with pytest.raises(TransientError) as info:
        backend.cancel_lines([line])
    assert (info.value.status_code, info.value.retry_after) == (429, 2.0)
    assert backend.cancel_lines([line]).lines[0].outcome == LineOutcome.CONFIRMED  # fault used up


def test_server_error_fault_is_an_unknown_outcome(backend, seller):
    fault_add(seller, FaultKind.SERVER_ERROR)
    with pytest.raises(TransientError) as info:
        backend.cancel_lines([cancel_of(backend, "BBY-1001-A", "BBY-1001-A-1", 1, ref=1)])
    assert info.value.status_code == 500 and info.value.outcome_unknown
    assert line_data("BBY-1001-A", "BBY-1001-A-1")["cancelations"] == []


def test_slow_fault_times_out_and_applies_nothing(backend, seller):
    fault_add(seller, FaultKind.SLOW, delay=2.5)
    line = cancel_of(backend, "BBY-1001-A", "BBY-1001-A-1", 1, ref=1)
    started = time.monotonic()
    with pytest.raises(TransientError) as info:
        backend.cancel_lines([line])
    assert info.value.code == "timeout" and info.value.outcome_unknown
    assert time.monotonic() - started < 2.5
    assert backend.get_order("BBY-1001-A").lines[0].cancellations == ()


def test_slow_after_apply_fault_times_out_but_applies(backend, seller):
    fault_add(seller, FaultKind.SLOW_AFTER_APPLY, delay=2.5)
    line = cancel_of(backend, "BBY-1001-A", "BBY-1001-A-1", 1, ref=1)
    with pytest.raises(TransientError) as info:
        backend.cancel_lines([line])
    assert info.value.code == "timeout" and info.value.outcome_unknown
    (applied,) = backend.get_order("BBY-1001-A").lines[0].cancellations
    assert applied.amount == line.amount


def test_reject_line_fault_names_the_line(backend, seller):
    fault_add(seller, FaultKind.REJECT_LINE, line_id="BBY-1006-A-2", message="line is locked by the operator")
    lines = [cancel_of(backend, "BBY-1006-A", f"BBY-1006-A-{i}", 1, ref=i) for i in (1, 2)]
    with pytest.raises(PermanentError) as info:
        backend.cancel_lines(lines)
    assert info.value.line_errors == {"BBY-1006-A-2": ("http_400", "line is locked by the operator")}
    assert line_data("BBY-1006-A", "BBY-1006-A-1")["cancelations"] == []


def test_unauthorized_fault(backend, seller):
    fault_add(seller, FaultKind.UNAUTHORIZED, operation="reasons")
    with pytest.raises(AccountError):
        backend.list_reasons()
    assert backend.list_reasons()


@pytest.mark.parametrize(
    ("operation", "call"),
    [
        ("get_order", lambda b: b.get_order("BBY-1001-A")),
        ("list_orders", lambda b: list(b.iter_order_pages(timezone.now() - timedelta(days=1)))),
        ("reasons", lambda b: b.list_reasons()),
    ],
)
def test_faults_on_reads(backend, seller, operation, call):
    fault_add(seller, FaultKind.SERVER_ERROR, operation=operation)
    with pytest.raises(TransientError):
        call(backend)
    assert call(backend)  # only the faulted operation, only once
    logged = list(SandboxRequest.objects.filter(operation=operation).values_list("status_code", flat=True))
    assert logged == [500, 200]


def test_a_fault_for_every_seller_applies_to_this_one(backend):
    SandboxFault.objects.create(marketplace="mirakl", operation="get_order", kind=FaultKind.RATE_LIMIT)
    with pytest.raises(TransientError) as info:
        backend.get_order("BBY-1001-A")
    assert info.value.retry_after == 1.0


# ------------------------------------------------------------------------------------------ wire details
# Straight through Django's test client (no sockets): the sandbox's own answers to malformed requests.

OR30 = "/sandbox/mirakl/api/orders/cancel"
OR11 = "/sandbox/mirakl/api/orders"


def put_or30(client, body, *, key=API_KEY, shop_id=SHOP_ID):
    data = body if isinstance(body, str) else json.dumps(body)
    return client.put(f"{OR30}?shop_id={shop_id}", data=data, content_type="application/json",
                      headers={"Authorization": key})


def item(line_id="BBY-1001-A-1", **kwargs):
    # taxes present (the line has some) but empty: proportional taxes are computed by the marketplace
    return {"order_line_id": line_id, "quantity": 1, "reason_code": "21", "amount": 1.00, "shipping_amount": 0,
            "taxes": [], "shipping_taxes": [], **kwargs}


def test_unauthenticated_answer_is_json_and_logged(client, seller):
    response = client.get(f"{OR11}?shop_id={SHOP_ID}")
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized: missing or invalid API key", "status": 401}
    (logged,) = SandboxRequest.objects.all()
    assert (logged.operation, logged.status_code, logged.seller) == ("list_orders", 401, None)


def test_wrong_method_is_405(client, seller):
    response = client.post(OR30, data="{}", content_type="application/json", headers={"Authorization": API_KEY})
    assert response.status_code == 405


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "not valid JSON"),
        ({"cancelations": []}, "non-empty list"),
        ({"cancelations": [item()], "order_tax_mode": "GROSS"}, "order_tax_mode"),
        ({"cancelations": [{"quantity": 1}]}, "cancelations[0].order_line_id"),
        ({"cancelations": [item(quantity=0)]}, "Order line 'BBY-1001-A-1': field quantity"),
        ({"cancelations": [item(amount="1.00")]}, "field amount must be a number"),
        ({"cancelations": [item(amount=1.001)]}, "at most 2 decimals"),
        ({"cancelations": [item(), item()]}, "appears more than once"),
        ({"cancelations": [item("BBY-9999-A-1")]}, "Order line 'BBY-9999-A-1': order line not found"),
        ({"cancelations": [item(taxes=[{"code": "VAT", "amount": 0.1}])]}, "tax VAT is not on this line"),
        ({"cancelations": [item(currency_iso_code="EUR")]}, "currency EUR"),
        ({"cancelations": [item()], "order_tax_mode": "TAX_INCLUDED"}, "order_tax_mode TAX_INCLUDED differs"),
        ({"cancelations": [item("BBY-1005-A-1")]}, "CANCELED"),
        ({"cancelations": [{k: v for k, v in item().items() if k != "taxes"}]},
         "Order line 'BBY-1001-A-1': field taxes is required: the line has taxes"),
        ({"cancelations": [{k: v for k, v in item().items() if k != "shipping_taxes"}]},
         "field shipping_taxes is required"),
        ({"cancelations": [item("BBY-1007-A-1")]}, "WAITING_ACCEPTANCE: refuse it (OR21)"),
        ({"cancelations": [item("BBY-1008-A-1", fees=[{"code": "CARD_FEE", "amount": 9.01}])]},
         "fees CARD_FEE 9.01 is more than the 9.00 left"),
        ({"cancelations": [item("BBY-1008-A-1", fees=[{"code": "XYZ", "amount": 1}])]}, "fee XYZ is not on"),
    ],
)
def test_malformed_or_impossible_cancel_is_400_and_changes_nothing(client, seller, body, message):
    response = put_or30(client, body)
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert line_data("BBY-1001-A", "BBY-1001-A-1")["cancelations"] == []


def test_applied_cancel_bumps_the_update_date(client, seller):
    before = SandboxOrder.objects.get(external_id="BBY-1001-A")
    response = put_or30(client, {"cancelations": [item()], "order_tax_mode": "TAX_EXCLUDED"})
    assert response.status_code == 200
    answer = response.json()
    assert answer["order_tax_mode"] == "TAX_EXCLUDED"
    (created,) = answer["cancelations"]
    assert (created["cancelation_id"], created["amount"], created["currency_iso_code"]) == (
        "BBY-1001-A-1-C1", 1.0, "CAD",
    )
    after = SandboxOrder.objects.get(external_id="BBY-1001-A")
    assert after.updated_at > before.updated_at
    assert after.data["last_updated_date"] > before.data["last_updated_date"]


@pytest.mark.parametrize(
    ("query", "message"),
    [("max=101", "max"), ("offset=-1", "offset"), ("max=ten", "integer"), ("start_update_date=yesterday", "ISO")],
)
def test_or11_bad_parameters(client, seller, query, message):
    response = client.get(f"{OR11}?shop_id={SHOP_ID}&{query}", headers={"Authorization": API_KEY})
    assert response.status_code == 400
    assert message in response.json()["message"]


def test_or11_max_offset_and_order_ids(client, seller):
    def get(query):
        return client.get(f"{OR11}?shop_id={SHOP_ID}&{query}", headers={"Authorization": API_KEY}).json()

    page = get("max=2&offset=3")
    assert page["total_count"] == len(sandbox.SEED_ORDERS)
    assert [o["order_id"] for o in page["orders"]] == ["BBY-1004-A", "BBY-1005-A"]
    assert get("max=100")["orders"][0]["order_lines"][0]["order_line_id"] == "BBY-1001-A-1"
    picked = get("order_ids=BBY-1003-A,BBY-1001-A")
    assert sorted(o["order_id"] for o in picked["orders"]) == ["BBY-1001-A", "BBY-1003-A"]
    assert SandboxRequest.objects.filter(operation="get_order").count() == 1


# ------------------------------------------------------------------------------------------ exact amounts


def or30_exact(client, cancelations: list[dict]):
    """OR30 with a body whose amounts are Decimals written digit for digit."""
    return put_or30(client, json_dumps_exact({"cancelations": cancelations}))


def test_amounts_are_stored_as_text_and_answered_as_exact_json_numbers(client, seller):
    sandbox.order_add(seller, order_id="CENTS-1-A", lines=[
        {"quantity": 3, "price_unit": "0.10", "shipping_price": "0.20", "taxes": [sandbox.GST]},
    ])
    stored = line_data("CENTS-1-A", "CENTS-1-A-1")
    assert (stored["price_unit"], stored["price"], stored["shipping_price"], stored["total_price"]) == (
        "0.10", "0.30", "0.20", "0.50",
    )
    assert (stored["taxes"][0]["amount"], stored["taxes"][0]["rate"]) == ("0.02", "5")

    listed = client.get(f"{OR11}?shop_id={SHOP_ID}&order_ids=CENTS-1-A,BBY-1001-A",
                        headers={"Authorization": API_KEY})
    text = listed.content.decode()
    assert listed["Content-Type"] == "application/json"
    for exact in ('"price": 1299.99', '"price_unit": 0.10', '"price": 0.30', '"total_price": 0.50',
                  '"amount": 0.02', '"rate": 5'):
        assert exact in text
    assert "0000000" not in text and "9999999" not in text  # no binary-float artefacts
    assert {o["order_id"]: o["price"] for o in json.loads(text, parse_float=D)["orders"]} == {
        "BBY-1001-A": D("1299.99"), "CENTS-1-A": D("0.30"),
    }

    first = or30_exact(client, [{"order_line_id": "CENTS-1-A-1", "quantity": 1, "reason_code": "21",
                                 "amount": D("0.10"), "shipping_amount": D("0.00"), "taxes": []}])
    second = or30_exact(client, [{"order_line_id": "CENTS-1-A-1", "quantity": 2, "reason_code": "21",
                                  "amount": D("0.20"), "shipping_amount": D("0.20"), "taxes": []}])
    assert (first.status_code, second.status_code) == (200, 200)
    tax = '"taxes": [{"amount": 0.01, "code": "GST"}]'
    assert f'"amount": 0.10, "shipping_amount": 0.00, {tax}' in first.content.decode()
    assert f'"amount": 0.20, "shipping_amount": 0.20, {tax}' in second.content.decode()
    done = line_data("CENTS-1-A", "CENTS-1-A-1")
    assert [(c["amount"], c["shipping_amount"], c["taxes"]) for c in done["cancelations"]] == [
        ("0.10", "0.00", [{"amount": "0.01", "code": "GST"}]),
        ("0.20", "0.20", [{"amount": "0.01", "code": "GST"}]),
    ]
    assert done["order_line_state"] == "CANCELED"


def test_numbers_stored_by_older_versions_are_still_read_exactly(client, seller):
    order = SandboxOrder.objects.get(external_id="BBY-1001-A")
    line = order.data["order_lines"][0]
    # What earlier versions wrote: JSON numbers (floats) for amounts and rates.
    line.update(price_unit=1299.99, price=1299.99, shipping_price=25.0, total_price=1324.99)
    line["taxes"] = [{**t, "amount": float(t["amount"]), "rate": float(t["rate"])} for t in line["taxes"]]
    order.save(update_fields=["data"])

    text = client.get(f"{OR11}?shop_id={SHOP_ID}&order_ids=BBY-1001-A", headers={"Authorization": API_KEY}).content
    assert b'"price": 1299.99' in text and b'"shipping_price": 25.00' in text and b'"rate": 5.0' in text

    response = or30_exact(client, [{"order_line_id": "BBY-1001-A-1", "quantity": 1, "reason_code": "21",
                                    "amount": D("1299.99"), "shipping_amount": D("25.00"), "taxes": [],
                                    "shipping_taxes": []}])
    assert response.status_code == 200, response.content
    (cancelation,) = line_data("BBY-1001-A", "BBY-1001-A-1")["cancelations"]
    assert (cancelation["amount"], cancelation["shipping_amount"]) == ("1299.99", "25.00")
    assert {t["code"]: t["amount"] for t in cancelation["taxes"]} == {"GST": "65.00"}  # PST is rule NONE
