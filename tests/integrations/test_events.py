"""Events are written in the change's transaction, with the object as the API shows it at that moment."""

from __future__ import annotations

import pytest
from django.db import transaction

from cancellations.marketplaces.base import AccountError
from cancellations.models import Cancellation, CancellationStatus, Event, InventoryAdjustment, Source
from cancellations.services import CancellationRequestError, LineRequest, cancellation_request
from cancellations.services.events import (
    EVENT_TYPES,
    SOURCE_EVENT_TYPES,
    STATUS_EVENT_TYPES,
    cancellations_created,
)
from cancellations.services.history import cancellations_transition

pytestmark = pytest.mark.django_db


def _request(order, quantity=1):
    return cancellation_request(lines=[LineRequest(line_id=line.pk, quantity=quantity)
                                       for line in order.lines.order_by("pk")],
                                reason="customer_request", source="api")


def test_a_confirmed_cancellation_records_requested_confirmed_and_inventory_events(
        fake, mirakl_order, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created = _request(mirakl_order)
    types = list(Event.objects.values_list("type", flat=True))
    assert types == ["cancellation.requested"] * 2 + ["cancellation.confirmed"] * 2 + [
        "inventory_adjustment.created"] * 2
    requested, confirmed = Event.objects.filter(type="cancellation.requested").first(), Event.objects.filter(
        type="cancellation.confirmed").first()
    # data is the object as it was at that moment, in the API's shape
    assert requested.data["id"] == created[0].pk and requested.data["status"] == "pending"
    assert confirmed.data["id"] == created[0].pk and confirmed.data["status"] == "confirmed"
    assert confirmed.data["order_external_id"] == "M-1" and confirmed.data["amount"] == "10.00"
    assert confirmed.data["calls"] and "request_body" not in confirmed.data["calls"][0]
    adjustment = InventoryAdjustment.objects.get(cancellation=created[0])
    inventory = Event.objects.filter(type="inventory_adjustment.created").first()
    assert inventory.data == {**inventory.data, "id": adjustment.pk, "sku": adjustment.sku, "quantity": 1,
                              "account": "bestbuy"}


def test_a_rolled_back_change_leaves_no_event(fake, mirakl_order):
    created = _request(mirakl_order)  # (no commit callbacks run: stays pending)
    before = Event.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        cancellations_transition(created, CancellationStatus.SENDING, message="sent")  # the pipeline's road
        cancellations_transition(created, CancellationStatus.FAILED, message="boom")
        assert Event.objects.count() == before + 2
        raise RuntimeError("the change fails after the status moved")
    assert Event.objects.count() == before
    assert set(Cancellation.objects.values_list("status", flat=True)) == {"pending"}


def test_a_refused_request_records_no_event(fake, mirakl_order):
    with pytest.raises(CancellationRequestError):
        _request(mirakl_order, quantity=99)
    assert not Event.objects.exists()


def test_status_mapping_is_data_and_covers_the_statuses_that_need_one():
    statuses = set(CancellationStatus.values) | {"needs_attention"}
    assert {"confirmed", "rejected", "failed", "needs_attention"} <= statuses & set(STATUS_EVENT_TYPES)
    for status in ("pending", "sending", "retry_scheduled", "verifying"):
        assert status not in STATUS_EVENT_TYPES
    assert set(STATUS_EVENT_TYPES.values()) | set(SOURCE_EVENT_TYPES.values()) <= set(EVENT_TYPES)


@pytest.mark.parametrize("to_status", ["rejected", "failed", "needs_attention"])
def test_each_mapped_status_records_its_event(fake, mirakl_order, to_status):
    created = _request(mirakl_order)
    cancellations_transition(created[:1], CancellationStatus.SENDING, message="sent")  # the pipeline's road
    cancellations_transition(created[:1], to_status, message="test")
    event = Event.objects.get(type=STATUS_EVENT_TYPES[to_status])
    assert event.data["id"] == created[0].pk and event.data["status"] == to_status


def test_moves_without_an_event_type_record_none(fake, mirakl_order):
    created = _request(mirakl_order)
    count = Event.objects.count()
    cancellations_transition(created, CancellationStatus.SENDING, message="sent")
    cancellations_transition(created, CancellationStatus.RETRY_SCHEDULED, message="later")
    assert Event.objects.count() == count


@pytest.mark.skipif("marketplace" not in Source.values,
                    reason="the source 'marketplace' arrives with drift detection in sync")
def test_a_cancellation_found_on_the_marketplace_is_marketplace_detected(fake, mirakl_order):
    line = mirakl_order.lines.first()
    detected = Cancellation.objects.create(line=line, account=mirakl_order.account, quantity=1, reason_code="34",
                                           status=CancellationStatus.CONFIRMED, source="marketplace")
    cancellations_created([detected])
    event = Event.objects.get()
    assert event.type == "cancellation.marketplace_detected" and event.data["source"] == "marketplace"


def test_an_ordinary_creation_is_requested(fake, mirakl_order):
    line = mirakl_order.lines.first()
    c = Cancellation.objects.create(line=line, account=mirakl_order.account, quantity=1, reason_code="34",
                                    source=Source.ADMIN)
    cancellations_created([c])
    assert Event.objects.get().type == "cancellation.requested"


def test_an_account_error_records_an_account_event(fake, mirakl_order, django_capture_on_commit_callbacks):
    fake.script = [AccountError("Unauthorized", code="http_401", status_code=401)]
    with django_capture_on_commit_callbacks(execute=True):
        _request(mirakl_order)
    event = Event.objects.get(type="account.error")
    assert event.data["name"] == "bestbuy" and event.data["last_error"].startswith("http_401")
    assert "credentials" not in event.data and "api_key" not in str(event.data)
    assert Event.objects.filter(type="cancellation.failed").count() == 2


def test_event_queries_do_not_grow_with_the_number_of_cancellations(fake, mirakl_account,
                                                                     django_assert_max_num_queries):
    from tests.factories import order_create

    orders = [order_create(account=mirakl_account, lines=1) for _ in range(6)]
    created = cancellation_request(lines=[LineRequest(line_id=o.lines.get().pk) for o in orders],
                                   reason="customer_request", source="api")
    cancellations_transition(created, CancellationStatus.SENDING, message="sent")  # the pipeline's road
    with django_assert_max_num_queries(8):
        cancellations_transition(created, CancellationStatus.FAILED, message="x")
    assert Event.objects.filter(type="cancellation.failed").count() == 6
