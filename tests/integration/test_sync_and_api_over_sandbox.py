"""Order sync and the API against the sandbox over real sockets."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from cancellations.models import Cancellation, MarketplaceCall, Order, OrderLine
from cancellations.sandbox import mirakl as mirakl_sandbox
from cancellations.services import orders_sync
from tests.integration.conftest import cancel_calls_received, lines_of

pytestmark = pytest.mark.django_db(transaction=True)


def test_sync_is_idempotent_and_reads_every_field(mirakl_live):
    # read_at alone changes: it marks when the marketplace was last read (the fresh baseline of issue 8 §3).
    orders_before = list(Order.objects.filter(account=mirakl_live).values())
    lines_before = list(OrderLine.objects.filter(order__account=mirakl_live).values())
    found_before = Cancellation.objects.filter(source="marketplace").count()
    report = orders_sync(account=mirakl_live, since=datetime(2020, 1, 1, tzinfo=UTC))  # re-read everything
    assert report.pages == 1
    assert (report.orders_created, report.orders_updated, report.lines_created, report.lines_updated) == (0, 0, 0, 0)
    assert [{k: v for k, v in o.items() if k != "read_at"} for o in Order.objects.filter(
        account=mirakl_live).values()] == [{k: v for k, v in o.items() if k != "read_at"} for o in orders_before]
    assert Cancellation.objects.filter(source="marketplace").count() == found_before  # nothing recorded twice
    assert list(OrderLine.objects.filter(order__account=mirakl_live).values()) == lines_before
    # The seeded shapes came through: shipped and cancelled orders, taxes with their rules, earlier cancellations.
    statuses = dict(Order.objects.filter(account=mirakl_live).values_list("external_id", "status"))
    assert statuses["BBY-1004-A"] == "SHIPPED" and statuses["BBY-1005-A"] == "CANCELED"
    (keyboard,) = lines_of(mirakl_live, "BBY-1005-A")
    assert keyboard.cancelled_quantity == 1 and keyboard.cancellable_quantity == 0
    (tv,) = lines_of(mirakl_live, "BBY-1001-A")
    assert {t["code"]: t["rule"] for t in tv.taxes} == {"GST": "PROPORTIONAL_TO_AMOUNT", "PST": "NONE"}


def test_walmart_sync_in_both_modes_reads_orders_and_reasons(walmart_live):
    orders = Order.objects.filter(account=walmart_live)
    assert orders.count() == 7
    assert set(walmart_live.reasons.values_list("code", flat=True)) == {
        "CANCEL_BY_SELLER", "CUSTOMER_REQUESTED_SELLER_TO_CANCEL"}
    pan, _ = lines_of(walmart_live, "5801000000066")
    assert (pan.quantity, pan.cancelled_quantity) == (3, 1)
    again = orders_sync(account=walmart_live)  # Walmart lists by creation date: a window, so all 7 again
    assert again.pages == 1
    assert (again.orders_created, again.orders_updated, again.lines_updated) == (0, 0, 0)


def test_sync_orders_command_reports_counts(mirakl_live):
    out = StringIO()
    call_command("sync_orders", "--account", mirakl_live.name, "--since", "2020-01-01T00:00:00Z", stdout=out)
    expected = f"{mirakl_live.name}: pages=1 orders created=0 updated=0 lines created=0 updated=0 reasons=4"
    assert expected in out.getvalue()


@pytest.fixture
def api(mirakl_live):
    user = get_user_model().objects.create_superuser("api", "api@example.com", "x")
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_repeated_idempotency_key_makes_one_cancellation_and_one_call(api, mirakl_live):
    hdmi, _ = lines_of(mirakl_live, "BBY-1002-A")
    body = {"lines": [{"line": hdmi.pk, "quantity": 1}], "reason": "21"}
    first = api.post("/api/cancellations/", body, format="json", HTTP_IDEMPOTENCY_KEY="order-1002-hdmi")
    second = api.post("/api/cancellations/", body, format="json", HTTP_IDEMPOTENCY_KEY="order-1002-hdmi")
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json() and first.json()["cancellations"][0]["status"] == "confirmed"
    ours = Cancellation.objects.exclude(source="marketplace")  # the seed's earlier cancellations are found by sync
    assert ours.count() == 1 and MarketplaceCall.objects.filter(operation="cancel").count() == 1
    assert cancel_calls_received(mirakl_live) == 1
    conflict = api.post("/api/cancellations/", {**body, "reason": "22"}, format="json",
                        HTTP_IDEMPOTENCY_KEY="order-1002-hdmi")
    assert conflict.status_code == 409 and ours.count() == 1


def test_double_submit_of_everything_left_is_refused_the_second_time(api, mirakl_live):
    hdmi, _ = lines_of(mirakl_live, "BBY-1002-A")
    body = {"lines": [{"line": hdmi.pk}], "reason": "21"}  # no quantity: all that remains
    assert api.post("/api/cancellations/", body, format="json").status_code == 202
    again = api.post("/api/cancellations/", body, format="json")
    # Refused: nothing left (the line now also shows the marketplace's CANCELED status, issue 8 §4).
    assert again.status_code == 400 and again.json()["errors"][0]["field"] in ("quantity", "line")
    assert Cancellation.objects.exclude(source="marketplace").count() == 1 and cancel_calls_received(mirakl_live) == 1


def test_periodic_sync_task_syncs_every_enabled_account(mirakl_live):
    from cancellations.models import MarketplaceAccount
    from cancellations.tasks import orders_sync_all_task

    MarketplaceAccount.objects.create(name="off", marketplace="mirakl", base_url="https://off.example.com",
                                      credentials={"api_key": "k"}, enabled=False)
    Cancellation.objects.filter(account=mirakl_live).delete()
    Order.objects.filter(account=mirakl_live).delete()
    MarketplaceAccount.objects.filter(pk=mirakl_live.pk).update(last_synced_at=None)
    assert orders_sync_all_task() == 1  # one task per enabled account (run inline here)
    assert Order.objects.filter(account=mirakl_live).count() == len(mirakl_sandbox.SEED_ORDERS)
