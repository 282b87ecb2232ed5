"""Issue 8 §6: a failed sync answers like a queued one; error pages hold no secret; hostile input gets a 4xx."""

from __future__ import annotations

import base64
import json
import sys

import pytest
import requests
import responses
from django.test import RequestFactory
from django.urls import reverse
from django.views.debug import technical_500_response

from cancellations.marketplaces.base import AccountConfig
from cancellations.marketplaces.mirakl.backend import MiraklBackend
from cancellations.marketplaces.walmart_ca.backend import WalmartCABackend
from cancellations.models import Cancellation, MarketplaceAccount
from tests.api.conftest import db_counts, user_with
from tests.factories import account_create, order_create
from tests.marketplaces.walmart_ca.test_backend import PRIVATE_KEY

pytestmark = pytest.mark.django_db
BASE = "https://marketplace.example.com"
API_KEY = "mirakl-key-SECRET-7731"
CLIENT_SECRET = "walmart-client-SECRET-5521"
TOKEN = "walmart-access-TOKEN-9043"


# ------------------------------------------------------------------------------------ failed syncs


FAILURES = {
    "5xx": {"status": 503, "body": "Service Unavailable"},
    "401": {"status": 401, "json": {"message": "Unauthorized", "status": 401}},
    "timeout": {"body": requests.ReadTimeout("read timed out")},
}


@pytest.mark.parametrize("failure", FAILURES)
@responses.activate
def test_failed_sync_over_the_api_answers_queued_and_shows_the_error_on_the_account(
        api, failure, django_capture_on_commit_callbacks):
    account = account_create(marketplace="mirakl", credentials={"api_key": API_KEY})
    responses.get(f"{BASE}/api/reasons", **FAILURES[failure])
    user = user_with("ops", "change_marketplaceaccount", "view_marketplaceaccount")
    with django_capture_on_commit_callbacks(execute=True):
        response = api(user).post(f"/api/accounts/{account.pk}/sync/")
    assert (response.status_code, response.json()) == (202, {"status": "queued"})
    shown = api(user).get(f"/api/accounts/{account.pk}/").json()["last_error"]
    assert shown.startswith("Sync failed: ") and API_KEY not in shown
    assert MarketplaceAccount.objects.get().last_error == shown


@responses.activate
def test_failed_sync_from_the_admin_is_a_message_and_the_error_is_on_the_account(
        admin_client, django_capture_on_commit_callbacks):
    account = account_create(marketplace="mirakl", credentials={"api_key": API_KEY})
    responses.get(f"{BASE}/api/reasons", status=500, body="boom")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:cancellations_marketplaceaccount_changelist"),
                                     {"action": "sync_orders_now", "_selected_action": [account.pk]}, follow=True)
    assert response.status_code == 200 and "Order sync queued for 1 account" in response.content.decode()
    page = admin_client.get(reverse("admin:cancellations_marketplaceaccount_change", args=[account.pk]))
    assert "Sync failed: http_500" in page.content.decode()


# ------------------------------------------------------------------------------ technical 500 pages


def _page_of_error_inside(call) -> str:
    """The technical 500 page (DEBUG on, as in the embedded default) of an error raised inside ``call``."""
    request = RequestFactory().get("/", HTTP_AUTHORIZATION=f"Token {TOKEN}")
    try:
        call()
    except RuntimeError:
        return technical_500_response(request, *sys.exc_info()).content.decode()
    raise AssertionError("no error")


@responses.activate
def test_a_500_page_raised_inside_a_mirakl_call_holds_no_secret(settings):
    settings.DEBUG = True
    responses.get(f"{BASE}/api/orders", body=RuntimeError("library bug"))
    backend = MiraklBackend(AccountConfig(name="m", marketplace="mirakl", base_url=BASE,
                                          credentials={"api_key": API_KEY}))
    page = _page_of_error_inside(lambda: backend.get_order("O-1"))
    assert "library bug" in page and "get_order" in page  # it is the real traceback
    assert API_KEY not in page


@pytest.mark.parametrize("fails", ["token", "call"])
@responses.activate
def test_a_500_page_raised_inside_a_walmart_oauth_call_holds_no_secret(settings, fails):
    settings.DEBUG = True
    if fails == "token":
        responses.post(f"{BASE}/v3/token", body=RuntimeError("library bug"))
    else:
        responses.post(f"{BASE}/v3/token", json={"access_token": TOKEN, "expires_in": 900})
        responses.get(f"{BASE}/v3/orders/PO-1", body=RuntimeError("library bug"))
    backend = WalmartCABackend(AccountConfig(
        name="w", marketplace="walmart_ca", base_url=BASE, options={"auth": "oauth"},
        credentials={"auth": "oauth", "client_id": "client-1", "client_secret": CLIENT_SECRET}))
    page = _page_of_error_inside(lambda: backend.get_order("PO-1"))
    basic = base64.b64encode(f"client-1:{CLIENT_SECRET}".encode()).decode()
    assert "library bug" in page
    for secret in (CLIENT_SECRET, basic, TOKEN):
        assert secret not in page


@responses.activate
def test_a_500_page_raised_inside_a_walmart_signed_call_holds_no_secret(settings):
    settings.DEBUG = True
    responses.get(f"{BASE}/v3/ca/orders/PO-1", body=RuntimeError("library bug"))
    backend = WalmartCABackend(AccountConfig(
        name="w", marketplace="walmart_ca", base_url=BASE, options={"auth": "signature"},
        credentials={"consumer_id": "cid", "channel_type": "chan", "private_key": PRIVATE_KEY}))
    page = _page_of_error_inside(lambda: backend.get_order("PO-1"))
    signature = responses.calls[0].request.headers["WM_SEC.AUTH_SIGNATURE"]
    assert "library bug" in page
    for secret in (PRIVATE_KEY[:60], signature):
        assert secret not in page


# ---------------------------------------------------------------------------------- hostile input


DEEP = "[" * 50_000 + "]" * 50_000
BIG = 2**64


@pytest.fixture
def hostile(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000
    user = user_with("hostile", "request_cancellation", "view_order", "view_cancellation",
                     "view_marketplaceaccount", "change_marketplaceaccount")
    account = account_create(marketplace="mirakl")
    order = order_create(account=account)
    return api(user), account, order


def _cancel_probes(order):
    line = order.lines.get().pk
    return {
        "deep JSON": DEEP,
        "deep object": '{"lines": ' + "[" * 40 + "]" * 40 + "}",
        "line id above 2**63": json.dumps({"lines": [{"line": BIG, "quantity": 1}], "reason": "x"}),
        "line id 2**63": json.dumps({"lines": [{"line": 2**63, "quantity": 1}], "reason": "x"}),
        "quantity above 2**63": json.dumps({"lines": [{"line": line, "quantity": BIG}], "reason": "x"}),
        "NaN quantity": '{"lines": [{"line": LINE, "quantity": NaN}], "reason": "x"}'.replace("LINE", str(line)),
        "superscript quantity": json.dumps({"lines": [{"line": line, "quantity": "\u00b2"}], "reason": "x"}),
        "oversized body": json.dumps({"lines": [{"line": line}], "reason": "x", "note": "a" * 200_000}),
    }


@pytest.mark.parametrize("name", ["deep JSON", "deep object", "line id above 2**63", "line id 2**63",
                                  "quantity above 2**63", "NaN quantity", "superscript quantity",
                                  "oversized body"])
@pytest.mark.parametrize("endpoint", ["cancellations", "order cancel"])
def test_hostile_cancel_bodies_get_a_4xx_in_the_errors_shape(hostile, name, endpoint):
    client, _, order = hostile
    before = db_counts()
    url = "/api/cancellations/" if endpoint == "cancellations" else f"/api/orders/{order.pk}/cancel/"
    response = client.post(url, _cancel_probes(order)[name], content_type="application/json")
    assert 400 <= response.status_code < 500, response.content[:300]
    errors = response.json()["errors"]
    assert errors and all({"line", "field", "message"} <= set(e) for e in errors)
    assert db_counts() == before


@pytest.mark.parametrize("body", [DEEP, '{"options": ' + '{"a": ' * 40 + "1" + "}" * 40 + "}"])
def test_hostile_account_bodies_get_a_400(hostile, body):
    client, account, _ = hostile
    response = client.patch(f"/api/accounts/{account.pk}/", body, content_type="application/json")
    assert response.status_code == 400 and "nested" in response.json()["detail"]


def test_oversized_account_body_is_a_413_with_a_detail(hostile):
    client, account, _ = hostile
    body = json.dumps({"name": "x" * 200_000})
    response = client.patch(f"/api/accounts/{account.pk}/", body, content_type="application/json")
    assert response.status_code == 413 and "larger than" in response.json()["detail"]


@pytest.mark.parametrize("query", ["order=%C2%B2", f"order={BIG}", f"order={2**63}"])
def test_hostile_list_filters_get_an_answer(hostile, query):
    client, _, _ = hostile
    assert client.get(f"/api/cancellations/?{query}").status_code == 200


@pytest.mark.parametrize("path", [f"/api/cancellations/{BIG}/", f"/api/orders/{BIG}/"])
def test_ids_above_2_63_in_the_path_are_404(hostile, path):
    client, _, _ = hostile
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("ids", [str(BIG), str(2**63), f"1,{BIG}", "1,\u00b2", "\u0661"])
def test_admin_confirmation_page_refuses_hostile_ids(admin_client, ids):
    response = admin_client.get(reverse("admin:cancellations_orderline_cancel"), {"ids": ids})
    assert response.status_code == 400 and response.content.decode().startswith("ids: ")


@pytest.mark.parametrize("ids", ["", ",", ",".join(str(n) for n in range(1, 502))])
def test_admin_confirmation_page_sends_an_empty_or_too_large_selection_back_to_the_list(admin_client, ids):
    response = admin_client.get(reverse("admin:cancellations_orderline_cancel"), {"ids": ids})
    assert response.status_code == 302


@pytest.mark.parametrize("typed", ["\u00b2", "1" * 30, "-1", "1.5"])
def test_admin_confirmation_page_refuses_hostile_quantities(admin_client, typed):
    order = order_create(account=account_create(marketplace="mirakl"))
    line = order.lines.get()
    page = admin_client.get(reverse("admin:cancellations_orderline_cancel"), {"ids": str(line.pk)})
    form = {"ids": str(line.pk), "request_id": page.context["request_id"], f"quantity-{line.pk}": typed,
            "reason": "customer_request", "_confirm": "1"}
    response = admin_client.post(reverse("admin:cancellations_orderline_cancel"), form)
    assert response.status_code == 200 and "Enter a whole number" in response.content.decode()
    assert not Cancellation.objects.exists()
