"""Read endpoints (constant query counts, filters, details) and the retry/verify actions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cancellations.models import Cancellation, CancellationEvent, InventoryAdjustment, MarketplaceCall, Order
from tests.factories import order_create

pytestmark = pytest.mark.django_db


def _cancellation(line, status="pending", **kwargs) -> Cancellation:
    c = Cancellation.objects.create(line=line, account=line.order.account, quantity=1, reason_code="34",
                                    source="api", status=status, **kwargs)
    CancellationEvent.objects.create(cancellation=c, to_status=status)
    call = MarketplaceCall.objects.create(account=c.account, operation="cancel", method="PUT",
                                          url="https://x.example/api/orders/cancel", status_code=204,
                                          request_body='{"api_key": "***"}')
    call.cancellations.add(c)
    return c


def _queries_stay_flat(client, url: str, add_rows: Callable[[int], None], count: Callable[[dict], int],
                       assert_max) -> None:
    """The query count for 2 rows is also enough for 30 rows."""
    add_rows(2)
    with CaptureQueriesContext(connection) as few:
        first = client.get(url)
    assert first.status_code == 200 and count(first.json()) == 2
    add_rows(28)
    with assert_max(len(few.captured_queries)):
        many = client.get(url)
    assert count(many.json()) == 30


def test_order_list_query_count_does_not_grow(mirakl_account, viewer, api, django_assert_max_num_queries):
    def add(n):
        for _ in range(n):
            order = order_create(account=mirakl_account, lines=2, quantity=3)
            _cancellation(order.lines.first())

    _queries_stay_flat(api(viewer), "/api/orders/?limit=100", add, lambda d: len(d["results"]),
                       django_assert_max_num_queries)


def test_cancellation_list_query_count_does_not_grow(mirakl_account, viewer, api, requester,
                                                     django_assert_max_num_queries):
    def add(n):
        for _ in range(n):
            _cancellation(order_create(account=mirakl_account, lines=1).lines.get(), requested_by=requester)

    _queries_stay_flat(api(viewer), "/api/cancellations/?limit=100", add, lambda d: len(d["results"]),
                       django_assert_max_num_queries)


def test_inventory_list_query_count_does_not_grow(mirakl_account, viewer, api, django_assert_max_num_queries):
    def add(n):
        for _ in range(n):
            c = _cancellation(order_create(account=mirakl_account, lines=1).lines.get(), status="confirmed")
            InventoryAdjustment.objects.create(account=mirakl_account, cancellation=c, sku="S", quantity=1,
                                               restock=True)

    _queries_stay_flat(api(viewer), "/api/inventory-adjustments/?pending=true&limit=100", add,
                       lambda d: len(d["results"]), django_assert_max_num_queries)


def test_order_lines_show_what_is_still_cancellable(mirakl_order, viewer, api):
    line = mirakl_order.lines.order_by("pk").first()  # 3 units
    _cancellation(line)  # 1 unit in flight
    response = api(viewer).get(f"/api/orders/{mirakl_order.pk}/")
    assert response.status_code == 200
    data = response.json()
    assert data["account"] == "bestbuy"
    first = data["lines"][0]
    assert (first["id"], first["quantity"], first["cancelled_quantity"], first["cancellable_quantity"]) == (
        line.pk, 3, 0, 2)
    assert first["unit_price"] == "10.00"


def test_order_filters(mirakl_account, walmart_account, viewer, api):
    order_create(account=mirakl_account, external_id="A-1", status="SHIPPING")
    order_create(account=mirakl_account, external_id="A-2", status="CLOSED")
    order_create(account=walmart_account, external_id="W-1", status="Acknowledged")
    client = api(viewer)

    def ids(query):
        return sorted(o["external_id"] for o in client.get(f"/api/orders/?{query}").json()["results"])

    assert ids("account=bestbuy") == ["A-1", "A-2"]
    assert ids("external_id=W-1") == ["W-1"]
    assert ids("status=closed") == ["A-2"]
    assert ids("account=bestbuy&status=shipping") == ["A-1"]


def test_cancellation_filters(mirakl_order, walmart_account, viewer, api):
    line = mirakl_order.lines.order_by("pk").first()
    pending, confirmed = _cancellation(line), _cancellation(line, status="confirmed")
    other = _cancellation(order_create(account=walmart_account, lines=1).lines.get())
    client = api(viewer)

    def ids(query):
        response = client.get(f"/api/cancellations/?{query}")
        assert response.status_code == 200, response.content
        return sorted(c["id"] for c in response.json()["results"])

    assert ids("status=pending") == sorted([pending.pk, other.pk])
    assert ids("account=bestbuy") == sorted([pending.pk, confirmed.pk])
    assert ids(f"order={mirakl_order.pk}") == ids("order=M-1") == sorted([pending.pk, confirmed.pk])
    assert ids(f"request_id={other.request_id}") == [other.pk]
    assert client.get("/api/cancellations/?status=done").status_code == 400
    assert client.get("/api/cancellations/?request_id=nope").json() == {"request_id": ["Enter a valid UUID."]}
    assert ids("account=BESTBUY&line_external_id=M-1-1") == sorted([pending.pk, confirmed.pk])
    assert ids("line_external_id=M-1-2") == []
    assert ids("marketplace=walmart_ca") == [other.pk]
    assert ids("needs_attention=false") == sorted([pending.pk, confirmed.pk, other.pk])
    Cancellation.objects.filter(pk=other.pk).update(updated_at=timezone.now() - timedelta(days=2))
    assert ids(f"updated_since={(timezone.now() - timedelta(days=1)).isoformat()}".replace("+", "%2B")) == sorted(
        [pending.pk, confirmed.pk])


@pytest.mark.parametrize(("url", "field", "message"), [
    ("/api/cancellations/?account=Nope", "account", "No account named 'Nope'. Accounts: bestbuy, walmart."),
    ("/api/orders/?account=Nope", "account", "No account named 'Nope'. Accounts: bestbuy, walmart."),
    ("/api/inventory-adjustments/?account=nope", "account", "No account named 'nope'. Accounts: bestbuy, walmart."),
    ("/api/cancellations/?needs_attention=maybe", "needs_attention", "Use true or false."),
    ("/api/cancellations/?updated_since=yesterday", "updated_since", "Enter a valid date/time."),
    ("/api/cancellations/?marketplace=amazon", "marketplace", "Select a valid choice."),
    ("/api/orders/?acount=bestbuy", "acount", "Not a filter of this list."),
])
def test_unknown_filter_values_are_a_400_naming_the_filter(mirakl_account, walmart_account, viewer, api, url,
                                                           field, message):
    response = api(viewer).get(url)
    assert response.status_code == 400
    assert message in response.json()[field][0]


def test_orders_by_the_marketplace_ids_and_update_time(mirakl_account, viewer, api):
    old = order_create(account=mirakl_account, external_id="A-1", lines=2)
    new = order_create(account=mirakl_account, external_id="A-2", lines=1)
    Order.objects.filter(pk=old.pk).update(synced_at=timezone.now() - timedelta(days=3))
    Order.objects.filter(pk=new.pk).update(synced_at=timezone.now())
    client = api(viewer)

    def ids(query):
        response = client.get(f"/api/orders/?{query}")
        assert response.status_code == 200, response.content
        return sorted(o["external_id"] for o in response.json()["results"])

    line_id = old.lines.order_by("pk").last().external_id
    assert ids(f"line_external_id={line_id}") == ["A-1"]
    assert ids("updated_since=" + (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")) == ["A-2"]
    assert ids("marketplace=mirakl&limit=10") == ["A-1", "A-2"]


def test_cancellation_detail_has_call_metadata_and_history(mirakl_order, viewer, api):
    c = _cancellation(mirakl_order.lines.first())
    response = api(viewer).get(f"/api/cancellations/{c.pk}/")
    assert response.status_code == 200
    data = response.json()
    assert (data["order"], data["order_external_id"], data["account"]) == (mirakl_order.pk, "M-1", "bestbuy")
    assert "request_body" not in data["calls"][0] and data["calls"][0]["status_code"] == 204  # issue 8 §7
    assert [e["to_status"] for e in data["events"]] == ["pending"]
    listed = api(viewer).get("/api/cancellations/").json()["results"][0]
    assert "request_body" not in listed["calls"][0]


def test_inventory_pending_filter(mirakl_order, viewer, api):
    line = mirakl_order.lines.first()
    account = mirakl_order.account
    pending = InventoryAdjustment.objects.create(account=account, cancellation=_cancellation(line), sku="S-1",
                                                 quantity=1, restock=True)
    InventoryAdjustment.objects.create(account=account, cancellation=_cancellation(line), sku="S-2",
                                       quantity=1, restock=False, exported_at=timezone.now())
    client = api(viewer)
    assert [a["id"] for a in client.get("/api/inventory-adjustments/?pending=true").json()["results"]] == [
        pending.pk]
    assert len(client.get("/api/inventory-adjustments/").json()["results"]) == 2
    assert client.get("/api/inventory-adjustments/?pending=maybe").status_code == 400
    assert len(client.get("/api/inventory-adjustments/?pending=FALSE").json()["results"]) == 1


def test_retry_of_a_failed_cancellation_is_sent_again(mirakl_order, requester, api, fake,
                                                      django_capture_on_commit_callbacks):
    c = _cancellation(mirakl_order.lines.order_by("pk").first(), status="failed", error_code="boom")
    with django_capture_on_commit_callbacks(execute=True):
        response = api(requester).post(f"/api/cancellations/{c.pk}/retry/")
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "pending" and response.json()["error_code"] == ""
    c.refresh_from_db()
    assert c.status == "confirmed" and len(fake.sent) == 1


def test_retry_of_a_confirmed_cancellation_is_a_409(mirakl_order, requester, api, fake):
    c = _cancellation(mirakl_order.lines.first(), status="confirmed")
    response = api(requester).post(f"/api/cancellations/{c.pk}/retry/")
    assert response.status_code == 409 and "retried" in response.json()["detail"]
    c.refresh_from_db()
    assert c.status == "confirmed"


def test_verify_of_a_cancellation_never_sent_is_a_409(mirakl_order, requester, api):
    c = _cancellation(mirakl_order.lines.first(), status="failed")
    response = api(requester).post(f"/api/cancellations/{c.pk}/verify/")
    assert response.status_code == 409 and "never sent" in response.json()["detail"]


def test_verify_settles_an_unknown_outcome(mirakl_order, requester, api, fake,
                                           django_capture_on_commit_callbacks):
    line = mirakl_order.lines.order_by("pk").first()
    c = _cancellation(line, status="failed", baseline_cancelled_quantity=0)
    fake.remote_cancelled[line.external_id] = 1  # the marketplace did apply it
    with django_capture_on_commit_callbacks(execute=True):
        response = api(requester).post(f"/api/cancellations/{c.pk}/verify/")
    assert response.status_code == 202, response.content
    c.refresh_from_db()
    assert c.status == "confirmed"


def test_retry_and_verify_need_the_permission(mirakl_order, viewer, api):
    c = _cancellation(mirakl_order.lines.first(), status="failed")
    client = api(viewer)
    assert client.post(f"/api/cancellations/{c.pk}/retry/").status_code == 403
    assert client.post(f"/api/cancellations/{c.pk}/verify/").status_code == 403
    c.refresh_from_db()
    assert c.status == "failed"

