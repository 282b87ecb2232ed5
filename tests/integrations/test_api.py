"""The events feed and the webhook endpoints API: permissions, the secret shown once, filters."""

from __future__ import annotations

import pytest

from cancellations.models import Event, WebhookEndpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def hooks_admin(db):
    from tests.api.conftest import user_with

    return user_with("integrator", "manage_webhooks", "view_event")


def test_create_shows_the_secret_once(api, hooks_admin):
    client = api(hooks_admin)
    answer = client.post("/api/webhook-endpoints/", {"url": "https://erp.example.com/hooks",
                                                      "events": ["cancellation.confirmed", "account.error"]},
                         format="json")
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and body["events"] == ["account.error", "cancellation.confirmed"]
    assert WebhookEndpoint.objects.get().signing_secret == secret
    pk = body["id"]
    reads = [client.get("/api/webhook-endpoints/"), client.get(f"/api/webhook-endpoints/{pk}/"),
             client.patch(f"/api/webhook-endpoints/{pk}/", {"enabled": False}, format="json")]
    for read in reads:
        assert read.status_code == 200 and secret not in read.content.decode() and "secret" not in read.json()
    assert reads[2].json()["enabled"] is False
    assert client.delete(f"/api/webhook-endpoints/{pk}/").status_code == 204
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(("body", "field", "reason"), [
    ({"url": "http://erp.example.com/", "events": ["cancellation.confirmed"]}, "url", "https"),
    ({"url": "https://10.1.2.3/", "events": ["cancellation.confirmed"]}, "url", "Private"),
    ({"url": "https://erp.example.com/", "events": ["cancellation.exploded"]}, "events", "Unknown event type"),
    ({"url": "https://erp.example.com/", "events": []}, "events", "non-empty"),
    ({"url": "https://erp.example.com/"}, "events", "required"),
])
def test_bad_input_is_a_400_naming_the_field(api, hooks_admin, settings, body, field, reason):
    settings.DEBUG = settings.SANDBOX_ENABLED = False
    answer = api(hooks_admin).post("/api/webhook-endpoints/", body, format="json")
    assert answer.status_code == 400 and reason in str(answer.json()[field])
    assert not WebhookEndpoint.objects.exists()


def test_without_the_permission_everything_is_403(api, db):
    from tests.api.conftest import user_with

    endpoint = WebhookEndpoint.objects.create(url="https://erp.example.com/", events=["account.error"],
                                              secret={"secret": "whsec_x"})
    client = api(user_with("viewer", "view_cancellation", "view_webhookendpoint", "change_webhookendpoint"))
    assert client.get("/api/webhook-endpoints/").status_code == 403
    assert client.get(f"/api/webhook-endpoints/{endpoint.pk}/").status_code == 403
    assert client.post("/api/webhook-endpoints/", {}, format="json").status_code == 403
    assert client.delete(f"/api/webhook-endpoints/{endpoint.pk}/").status_code == 403
    assert api().get("/api/webhook-endpoints/").status_code in (401, 403)


def test_the_events_feed_lists_in_order_after_an_id_and_by_type(api, hooks_admin):
    events = [Event.objects.create(type=t, data={"n": i}) for i, t in enumerate(
        ["cancellation.requested", "cancellation.confirmed", "inventory_adjustment.created",
         "cancellation.confirmed"])]
    client = api(hooks_admin)
    every = client.get("/api/events/").json()["results"]
    assert [e["id"] for e in every] == [e.public_id for e in events]
    assert set(every[0]) == {"id", "type", "created", "data"} and every[0]["data"] == {"n": 0}
    after = client.get("/api/events/", {"after": events[1].public_id}).json()["results"]
    assert [e["data"]["n"] for e in after] == [2, 3]
    typed = client.get("/api/events/", {"after": events[0].public_id, "type": "cancellation.confirmed"}).json()
    assert [e["data"]["n"] for e in typed["results"]] == [1, 3]
    one = client.get(f"/api/events/{events[2].public_id}/")
    assert one.status_code == 200 and one.json()["type"] == "inventory_adjustment.created"
    assert client.get("/api/events/evt_999999999/").status_code == 404


@pytest.mark.parametrize(("params", "field"), [({"after": "12"}, "after"), ({"after": "evt_x"}, "after"),
                                               ({"type": "nope"}, "type")])
def test_the_events_feed_refuses_bad_filters(api, hooks_admin, params, field):
    answer = api(hooks_admin).get("/api/events/", params)
    assert answer.status_code == 400 and field in answer.json()


def test_the_events_feed_needs_the_view_permission(api, db):
    from tests.api.conftest import user_with

    assert api(user_with("nobody", "view_cancellation")).get("/api/events/").status_code == 403
