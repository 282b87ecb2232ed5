"""POST /api/cancellations/ and /api/orders/{id}/cancel/: refusals name line and field and change nothing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cancellations.models import Cancellation, MarketplaceCall, Source
from tests.api.conftest import db_counts, user_with
from tests.factories import account_create, line_create, order_create

pytestmark = pytest.mark.django_db

URL = "/api/cancellations/"


@pytest.fixture
def lines(mirakl_order):
    """Lines in every state the table needs (ok line of 3 units, disabled account, shipped, all cancelled)."""
    ok, single = mirakl_order.lines.order_by("pk")
    disabled_order = order_create(account=account_create(marketplace="mirakl", enabled=False), lines=1)
    shipped = line_create(order=mirakl_order, external_id="M-1-3", status="SHIPPED")
    cancelled = line_create(order=mirakl_order, external_id="M-1-4", quantity=2, cancelled_quantity=2)
    return SimpleNamespace(ok=ok, single=single, disabled=disabled_order.lines.get(), shipped=shipped,
                           cancelled=cancelled)


def _one(line_key: str, quantity=1, reason="customer_request", **extra):
    return lambda ls: ({"lines": [{"line": getattr(ls, line_key).pk, "quantity": quantity, **extra}],
                        "reason": reason}, getattr(ls, line_key).pk)


BAD_INPUT = [
    pytest.param(_one("ok", -1), "quantity", id="negative"),
    pytest.param(_one("ok", 0), "quantity", id="zero"),
    pytest.param(_one("ok", 4), "quantity", id="too-large"),
    pytest.param(_one("ok", "2"), "quantity", id="string"),
    pytest.param(_one("ok", 1.5), "quantity", id="float"),
    pytest.param(_one("ok", True), "quantity", id="boolean"),
    pytest.param(_one("ok", quantiy=1), "quantiy", id="misspelt-key"),
    pytest.param(lambda ls: ({"lines": [{"line": 999_999, "quantity": 1}], "reason": "other"}, 999_999),
                 "line", id="unknown-line"),
    pytest.param(_one("disabled"), "line", id="disabled-account"),
    pytest.param(_one("shipped"), "line", id="shipped"),
    pytest.param(_one("cancelled"), "quantity", id="already-cancelled"),
    pytest.param(_one("ok", reason="CANCEL_BY_SELLER"), "reason", id="walmart-reason-on-mirakl"),
    pytest.param(_one("ok", reason=""), "reason", id="no-reason"),
    pytest.param(lambda ls: ({"reason": "customer_request"}, None), "lines", id="missing-lines"),
    pytest.param(lambda ls: ({"lines": [], "reason": "customer_request"}, None), "lines", id="empty-lines"),
    pytest.param(lambda ls: ({"lines": "all", "reason": "other"}, None), "lines", id="lines-not-list"),
    pytest.param(lambda ls: ({"lines": [{"quantity": 1}], "reason": "other"}, None), "line", id="no-line-id"),
    pytest.param(lambda ls: ([1, 2], None), "body", id="body-not-object"),
]


@pytest.mark.parametrize(("build", "field"), BAD_INPUT)
def test_bad_input_is_a_400_naming_line_and_field_and_changes_nothing(build, field, lines, requester, api,
                                                                      fake):
    body, line_id = build(lines)
    before = db_counts()
    response = api(requester).post(URL, body, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert (line_id, field) in [(e["line"], e["field"]) for e in errors], errors
    assert all(e["message"] for e in errors)
    assert db_counts() == before
    assert fake.sent == []


def test_one_bad_line_refuses_the_whole_request(lines, requester, api):
    body = {"lines": [{"line": lines.ok.pk, "quantity": 1}, {"line": lines.shipped.pk, "quantity": 1}],
            "reason": "customer_request"}
    response = api(requester).post(URL, body, format="json")
    assert response.status_code == 400
    assert [e["line"] for e in response.json()["errors"]] == [lines.shipped.pk]
    assert Cancellation.objects.count() == 0


def test_malformed_json_is_a_400(lines, requester, api):
    before = db_counts()
    response = api(requester).post(URL, '{"lines": [{"line": 1,', content_type="application/json")
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert (error["line"], error["field"]) == (None, "body") and "JSON parse error" in error["message"]
    assert db_counts() == before


def test_without_the_permission_it_is_a_403(lines, viewer, api):
    before = db_counts()
    body = {"lines": [{"line": lines.ok.pk, "quantity": 1}], "reason": "customer_request"}
    assert api(viewer).post(URL, body, format="json").status_code == 403
    assert db_counts() == before


def test_unauthenticated_is_a_401(lines, api):
    body = {"lines": [{"line": lines.ok.pk, "quantity": 1}], "reason": "customer_request"}
    assert api().post(URL, body, format="json").status_code == 401
    assert Cancellation.objects.count() == 0


def test_accepted_request_is_sent_on_commit_and_confirmed(lines, requester, api, fake,
                                                          django_capture_on_commit_callbacks):
    body = {"lines": [{"line": lines.ok.pk, "quantity": 2},
                      {"line": lines.single.pk, "reason": "out_of_stock"}],
            "reason": "customer_request", "note": "customer called"}
    with django_capture_on_commit_callbacks(execute=True):
        response = api(requester).post(URL, body, format="json")
    assert response.status_code == 202, response.content
    data = response.json()
    answered = {c["line"]: c for c in data["cancellations"]}
    assert answered[lines.ok.pk]["quantity"] == 2 and answered[lines.ok.pk]["reason_code"] == "34"
    assert answered[lines.single.pk]["quantity"] == 1 and answered[lines.single.pk]["reason_code"] == "35"
    assert answered[lines.ok.pk]["amount"] == "20.00"  # Decimal as a string, never a float
    assert all(c["request_id"] == data["request_id"] for c in data["cancellations"])
    assert len(fake.sent) == 1 and len(fake.sent[0]) == 2
    stored = Cancellation.objects.filter(request_id=data["request_id"])
    assert {c.status for c in stored} == {"confirmed"}
    assert {(c.source, c.requested_by, c.note) for c in stored} == {
        (Source.API, requester, "customer called")}
    assert MarketplaceCall.objects.filter(operation="cancel").count() == 1
    lines.ok.refresh_from_db()
    assert lines.ok.cancelled_quantity == 2


def test_order_cancel_without_lines_takes_every_cancellable_line(lines, requester, api, fake,
                                                                 django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(requester).post(f"/api/orders/{lines.ok.order_id}/cancel/",
                                       {"reason": "customer_request"}, format="json")
    assert response.status_code == 202, response.content
    by_line = {c["line"]: c["quantity"] for c in response.json()["cancellations"]}
    assert by_line == {lines.ok.pk: 3, lines.single.pk: 1}  # shipped and fully cancelled lines left out
    assert len(fake.sent) == 1


def test_order_cancel_refuses_a_line_of_another_order(lines, requester, api):
    before = db_counts()
    body = {"lines": [{"line": lines.disabled.pk, "quantity": 1}], "reason": "customer_request"}
    response = api(requester).post(f"/api/orders/{lines.ok.order_id}/cancel/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"line": lines.disabled.pk, "field": "line", "message": "Not a line of order M-1."}]
    assert db_counts() == before


def test_order_cancel_with_nothing_cancellable_is_a_400(db, requester, api, mirakl_account):
    order = order_create(account=mirakl_account, lines=0)
    line_create(order=order, external_id="X-1", status="SHIPPED")
    response = api(requester).post(f"/api/orders/{order.pk}/cancel/", {"reason": "customer_request"},
                                   format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0] == {"line": None, "field": "lines",
                                            "message": "No line of this order can still be cancelled."}


def test_order_cancel_needs_the_permission(lines, api):
    user = user_with("reader", "view_order")
    response = api(user).post(f"/api/orders/{lines.ok.order_id}/cancel/", {"reason": "customer_request"},
                              format="json")
    assert response.status_code == 403
    assert Cancellation.objects.count() == 0


def test_walmart_line_takes_the_documented_code(walmart_account, requester, api, fake,
                                                django_capture_on_commit_callbacks):
    order = order_create(account=walmart_account, lines=1, quantity=2)
    line = order.lines.get()
    with django_capture_on_commit_callbacks(execute=True):
        response = api(requester).post(URL, {"lines": [{"line": line.pk, "quantity": 1}],
                                             "reason": "customer_request"}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["cancellations"][0]["reason_code"] == "CUSTOMER_REQUESTED_SELLER_TO_CANCEL"
    assert Cancellation.objects.get().status == "confirmed"
