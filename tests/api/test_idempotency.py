"""Idempotency-Key: a replay returns the first answer and creates nothing; a crash half-way is recoverable."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from cancellations.api.idempotency import PENDING, request_fingerprint, request_id_for
from cancellations.models import Cancellation, IdempotencyRecord, MarketplaceCall, Source
from cancellations.services import LineRequest, cancellation_request
from tests.api.conftest import db_counts, user_with

pytestmark = pytest.mark.django_db

URL = "/api/cancellations/"


@pytest.fixture
def line(mirakl_order):
    return mirakl_order.lines.order_by("pk").first()  # 3 units


def _body(line, quantity=1):
    return {"lines": [{"line": line.pk, "quantity": quantity}], "reason": "customer_request"}


def _post(client, body, key):
    return client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_replay_returns_the_first_answer_and_creates_nothing(line, requester, api, fake,
                                                             django_capture_on_commit_callbacks):
    client = api(requester)
    with django_capture_on_commit_callbacks(execute=True):
        first = _post(client, _body(line), "key-1")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        second = _post(client, _body(line), "key-1")
    assert first.status_code == second.status_code == 202
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert callbacks == []  # nothing enqueued by the replay
    assert Cancellation.objects.count() == 1
    assert MarketplaceCall.objects.filter(operation="cancel").count() == 1
    assert len(fake.sent) == 1
    record = IdempotencyRecord.objects.get()
    assert (record.user, record.key, record.response_status) == (requester, "key-1", 202)


def test_same_key_with_another_body_is_a_409(line, requester, api, fake):
    client = api(requester)
    assert _post(client, _body(line), "key-1").status_code == 202
    before = db_counts()
    response = _post(client, _body(line, quantity=2), "key-1")
    assert response.status_code == 409
    assert "different request" in response.json()["detail"]
    assert db_counts() == before


def test_same_key_on_the_other_endpoint_is_a_409(line, requester, api, fake):
    client = api(requester)
    assert _post(client, _body(line), "key-1").status_code == 202
    response = client.post(f"/api/orders/{line.order_id}/cancel/", _body(line), format="json",
                           HTTP_IDEMPOTENCY_KEY="key-1")
    assert response.status_code == 409
    assert Cancellation.objects.count() == 1


def test_double_submit_without_a_key_is_refused_by_the_remaining_quantity(line, requester, api, fake):
    client = api(requester)
    assert client.post(URL, _body(line, quantity=3), format="json").status_code == 202
    again = client.post(URL, _body(line, quantity=3), format="json")
    assert again.status_code == 400
    assert again.json()["errors"][0]["field"] == "quantity"
    assert Cancellation.objects.count() == 1


def test_keys_belong_to_their_user(line, requester, api, fake):
    other = user_with("other", "request_cancellation")
    assert _post(api(requester), _body(line), "shared").status_code == 202
    assert _post(api(other), _body(line), "shared").status_code == 202
    assert Cancellation.objects.count() == 2


def test_a_refused_request_releases_its_key(line, requester, api, fake):
    client = api(requester)
    refused = _post(client, _body(line, quantity=9), "key-1")
    assert refused.status_code == 400
    assert not IdempotencyRecord.objects.exists()
    assert _post(client, _body(line, quantity=1), "key-1").status_code == 202


def test_a_key_still_in_progress_is_a_409(line, requester, api, fake):
    """Another request holds the key (reserved a moment ago): this one must not run the service."""
    client = api(requester)
    fingerprint = request_fingerprint("POST", URL, _body(line))
    IdempotencyRecord.objects.create(user=requester, key="key-1", request_hash=fingerprint,
                                     response_status=PENDING, response_body={})
    response = _post(client, _body(line), "key-1")
    assert response.status_code == 409
    assert "still being processed" in response.json()["detail"]
    assert Cancellation.objects.count() == 0


def test_crash_after_the_service_committed_is_recovered_without_a_second_cancellation(line, requester, api,
                                                                                      fake):
    """The first request recorded its cancellations, then died before storing the response."""
    key, body = "key-1", _body(line)
    earlier = cancellation_request(lines=[LineRequest(line_id=line.pk, quantity=1)],
                                   reason="customer_request", user=requester, source=Source.API,
                                   request_id=request_id_for(requester, key))
    record = IdempotencyRecord.objects.create(user=requester, key=key, request_hash=request_fingerprint(
        "POST", URL, body), response_status=PENDING, response_body={})
    IdempotencyRecord.objects.filter(pk=record.pk).update(created_at=timezone.now() - timedelta(hours=1))
    before = db_counts()

    response = _post(api(requester), body, key)

    assert response.status_code == 202
    assert [c["id"] for c in response.json()["cancellations"]] == [earlier[0].pk]
    assert db_counts() == before
    record.refresh_from_db()
    assert record.response_status == 202 and record.response_body == response.json()


def test_crash_before_the_service_ran_runs_it_once(line, requester, api, fake):
    key, body = "key-1", _body(line)
    record = IdempotencyRecord.objects.create(user=requester, key=key, request_hash=request_fingerprint(
        "POST", URL, body), response_status=PENDING, response_body={})
    IdempotencyRecord.objects.filter(pk=record.pk).update(created_at=timezone.now() - timedelta(hours=1))
    response = _post(api(requester), body, key)
    assert response.status_code == 202
    assert Cancellation.objects.filter(request_id=request_id_for(requester, key)).count() == 1


def test_an_overlong_key_is_a_400(line, requester, api, fake):
    response = _post(api(requester), _body(line), "k" * 201)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"
    assert Cancellation.objects.count() == 0
