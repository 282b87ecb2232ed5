"""Webhook admin: the secret shown once, the permission, Redeliver."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from cancellations.models import DeliveryState, Event, WebhookDelivery, WebhookEndpoint
from cancellations.services.webhooks import webhook_endpoint_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_adding_an_endpoint_shows_its_secret_once(admin_client):
    answer = admin_client.post("/admin/cancellations/webhookendpoint/add/", {
        "url": "https://erp.example.com/hooks", "events": ["cancellation.confirmed", "account.error"],
        "description": "ERP", "enabled": "on"}, follow=True)
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.signing_secret.startswith("whsec_") and endpoint.signing_secret in answer.content.decode()
    assert endpoint.events == ["account.error", "cancellation.confirmed"]
    for url in ("/admin/cancellations/webhookendpoint/", f"/admin/cancellations/webhookendpoint/{endpoint.pk}/change/"):
        page = admin_client.get(url)
        assert page.status_code == 200 and endpoint.signing_secret not in page.content.decode()


def test_the_admin_form_refuses_a_private_url(admin_client, settings):
    settings.DEBUG = settings.SANDBOX_ENABLED = False
    answer = admin_client.post("/admin/cancellations/webhookendpoint/add/", {
        "url": "https://192.168.1.10/hooks", "events": ["account.error"], "enabled": "on"})
    assert answer.status_code == 200 and "Private and loopback addresses are not allowed" in answer.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_staff_without_the_permission_do_not_see_webhooks(client):
    user = get_user_model().objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=[
        "view_webhookendpoint", "change_webhookendpoint", "view_webhookdelivery", "view_cancellation"]))
    client.force_login(user)
    assert client.get("/admin/cancellations/webhookendpoint/").status_code == 403
    assert client.get("/admin/cancellations/webhookdelivery/").status_code == 403
    assert "Webhook endpoints" not in client.get("/admin/").content.decode()


def test_redeliver_queues_a_delivered_delivery_again(admin_client):
    from django.utils import timezone

    endpoint = webhook_endpoint_create(url="https://erp.example.com/", events=["account.error"])
    event = Event.objects.create(type="account.error", data={})
    now = timezone.now()
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event=event, state=DeliveryState.DELIVERED,
                                              attempts=1, next_attempt_at=now, window_started_at=now,
                                              delivered_at=now)
    admin_client.post("/admin/cancellations/webhookdelivery/", {"action": "redeliver",
                                                                "_selected_action": [delivery.pk]})
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.PENDING and delivery.delivered_at is None
    assert delivery.next_attempt_at <= timezone.now()
