"""Webhooks delivered over real sockets to a local receiver: signature, retries, deleted endpoints, secrets."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from cancellations.models import DeliveryState, Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from cancellations.services import LineRequest, cancellation_request
from cancellations.services.webhooks import (
    deliveries_redeliver,
    retry_delay,
    webhook_endpoint_create,
    webhook_url_problem,
    webhooks_deliver_due,
)
from cancellations.webhook_signature import signature_header, signature_verify

pytestmark = pytest.mark.django_db


def _confirm(order, capture):
    with capture(execute=True):
        return cancellation_request(lines=[LineRequest(line_id=order.lines.order_by("pk").first().pk, quantity=1)],
                                    reason="customer_request", source="api")


def _due_now():
    WebhookDelivery.objects.filter(state=DeliveryState.PENDING).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1))


def test_delivered_with_a_signature_that_verifies(fake, mirakl_order, receiver,
                                                  django_capture_on_commit_callbacks):
    endpoint = webhook_endpoint_create(url=receiver.url, events=["cancellation.confirmed"])
    created = _confirm(mirakl_order, django_capture_on_commit_callbacks)
    assert receiver.received == []  # nothing is sent from the cancellation's own path
    assert webhooks_deliver_due() == {"delivered": 1}
    [hit] = receiver.received
    assert hit.headers["Content-Type"] == "application/json"
    assert signature_verify(endpoint.signing_secret, hit.body, hit.headers["Backoffice-Signature"])
    assert not signature_verify("whsec_other", hit.body, hit.headers["Backoffice-Signature"])
    assert not signature_verify(endpoint.signing_secret, hit.body + b" ", hit.headers["Backoffice-Signature"])
    payload = json.loads(hit.body)
    event = Event.objects.get(type="cancellation.confirmed")
    assert payload["id"] == event.public_id and payload["id"].startswith("evt_")
    assert payload["type"] == "cancellation.confirmed" and payload["data"]["id"] == created[0].pk
    assert payload["data"]["status"] == "confirmed" and payload["created"].endswith("Z")
    assert webhooks_deliver_due() == {}  # delivered once
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code == 200 and attempt.error == ""
    assert endpoint.signing_secret not in json.dumps(list(WebhookAttempt.objects.values()), default=str)


def test_the_signature_header_format():
    header = signature_header("whsec_x", b'{"a":1}', timestamp=1700000000)
    t, v1 = header.split(",")
    assert t == "t=1700000000" and v1.startswith("v1=") and len(v1) == 3 + 64
    assert signature_verify("whsec_x", b'{"a":1}', header, now=1700000100)
    assert not signature_verify("whsec_x", b'{"a":1}', header, now=1700000000 + 301)  # a stale replay


def test_a_500_then_200_endpoint_is_retried_and_delivered_once(fake, mirakl_order, receiver, settings,
                                                               django_capture_on_commit_callbacks):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 60
    receiver.script = [500]
    webhook_endpoint_create(url=receiver.url, events=["cancellation.confirmed"])
    _confirm(mirakl_order, django_capture_on_commit_callbacks)
    before = timezone.now()
    assert webhooks_deliver_due() == {"retry": 1}
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "pending" and delivery.attempts == 1 and delivery.last_status_code == 500
    assert before + timedelta(seconds=59) < delivery.next_attempt_at < timezone.now() + timedelta(seconds=61)
    assert webhooks_deliver_due() == {}  # not due yet
    _due_now()
    assert webhooks_deliver_due() == {"delivered": 1}
    _due_now()
    assert webhooks_deliver_due() == {}
    assert [json.loads(r.body)["id"] for r in receiver.received] == [Event.objects.get(
        type="cancellation.confirmed").public_id] * 2
    assert list(WebhookAttempt.objects.values_list("status_code", flat=True)) == [500, 200]


def test_backoff_doubles_from_the_base(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 60
    assert [retry_delay(n) for n in (1, 2, 3, 4)] == [60, 120, 240, 480]


def test_an_endpoint_failing_past_the_window_is_marked_failing_and_recovers(
        fake, mirakl_order, receiver, settings, django_capture_on_commit_callbacks):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 60
    settings.WEBHOOK_RETRY_WINDOW_SECONDS = 200  # 60 + 120 fit; the next (240) does not
    receiver.script = [503, 503, 503]
    endpoint = webhook_endpoint_create(url=receiver.url, events=["cancellation.confirmed"])
    _confirm(mirakl_order, django_capture_on_commit_callbacks)
    outcomes = []
    for _ in range(3):
        outcomes.append(webhooks_deliver_due())
        _due_now()
    assert outcomes == [{"retry": 1}, {"retry": 1}, {"failed": 1}]
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None
    assert webhooks_deliver_due() == {}  # given up
    deliveries_redeliver(list(WebhookDelivery.objects.all()))
    assert webhooks_deliver_due() == {"delivered": 1}
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_a_delivery_being_sent_is_neither_redelivered_nor_sent_again_meanwhile(
        fake, mirakl_order, receiver, django_capture_on_commit_callbacks):
    """Redeliver pressed while the POST is out must not make it due for a second sender."""
    from django.db.models import Q

    from cancellations.services.webhooks import _claim, _endpoint_send

    webhook_endpoint_create(url=receiver.url, events=["cancellation.confirmed"])
    _confirm(mirakl_order, django_capture_on_commit_callbacks)
    [out] = _claim(Q(), timezone.now(), 10).values()  # a sender has it out now
    assert deliveries_redeliver(list(WebhookDelivery.objects.all())) == 0
    assert webhooks_deliver_due() == {}  # no second sender takes it
    assert _endpoint_send(out) == {"delivered": 1}  # the first sender's POST lands
    assert len(receiver.received) == 1
    assert deliveries_redeliver(list(WebhookDelivery.objects.all())) == 1  # once back, it can be sent again
    assert webhooks_deliver_due() == {"delivered": 1}


def test_a_timeout_counts_as_a_failure(fake, mirakl_order, settings, django_capture_on_commit_callbacks):
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers
    settings.WEBHOOK_HTTP_TIMEOUT = (1.0, 0.3)
    try:
        webhook_endpoint_create(url=f"http://127.0.0.1:{silent.getsockname()[1]}/", events=["cancellation.confirmed"])
        _confirm(mirakl_order, django_capture_on_commit_callbacks)
        assert webhooks_deliver_due() == {"retry": 1}
    finally:
        silent.close()
    assert "Timeout" in WebhookAttempt.objects.get().error


def test_a_refused_connection_is_retried_and_logged_without_the_urls_query(fake, mirakl_order,
                                                                           django_capture_on_commit_callbacks):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    webhook_endpoint_create(url=f"http://127.0.0.1:{port}/hooks?token=receiver-token-123",
                            events=["cancellation.confirmed"])
    _confirm(mirakl_order, django_capture_on_commit_callbacks)
    assert webhooks_deliver_due() == {"retry": 1}
    error = WebhookAttempt.objects.get().error
    assert error.startswith("ConnectionError") and "/hooks?***" in error and "receiver-token-123" not in error


def test_a_deleted_endpoint_gets_nothing(fake, mirakl_order, receiver, django_capture_on_commit_callbacks):
    endpoint = webhook_endpoint_create(url=receiver.url, events=["cancellation.confirmed"])
    _confirm(mirakl_order, django_capture_on_commit_callbacks)
    assert WebhookDelivery.objects.count() == 1
    endpoint.delete()
    assert webhooks_deliver_due() == {} and receiver.received == []
    _confirm(mirakl_order, django_capture_on_commit_callbacks)  # later events are not owed to it either
    assert WebhookDelivery.objects.count() == 0 and Event.objects.filter(type="cancellation.confirmed").count() == 2


def test_only_subscribed_types_and_enabled_endpoints_get_deliveries(fake, mirakl_order, receiver,
                                                                   django_capture_on_commit_callbacks):
    webhook_endpoint_create(url=receiver.url, events=["cancellation.failed"])
    webhook_endpoint_create(url=receiver.url, events=["cancellation.confirmed"], enabled=False)
    both = webhook_endpoint_create(url=receiver.url, events=["cancellation.requested", "cancellation.confirmed"])
    _confirm(mirakl_order, django_capture_on_commit_callbacks)
    assert list(WebhookDelivery.objects.values_list("endpoint_id", flat=True)) == [both.pk, both.pk]
    assert webhooks_deliver_due() == {"delivered": 2}
    assert [json.loads(r.body)["type"] for r in receiver.received] == ["cancellation.requested",
                                                                       "cancellation.confirmed"]


def test_the_command_delivers(fake, mirakl_order, receiver, django_capture_on_commit_callbacks, capsys):
    webhook_endpoint_create(url=receiver.url, events=["cancellation.confirmed"])
    _confirm(mirakl_order, django_capture_on_commit_callbacks)
    call_command("deliver_webhooks")
    assert "webhooks_delivered=1" in capsys.readouterr().out and len(receiver.received) == 1


@pytest.mark.parametrize(("url", "debug", "problem"), [
    ("https://hooks.example.com/x", False, None),
    ("http://hooks.example.com/x", False, "https"),
    ("https://127.0.0.1/x", False, "Private"),
    ("https://10.0.0.5/x", False, "Private"),
    ("https://[::1]/x", False, "Private"),
    ("https://localhost/x", False, "Private"),
    ("https://169.254.169.254/latest", False, "Private"),
    ("https://user:pw@hooks.example.com/", False, "user name"),
    ("ftp://hooks.example.com/", False, "https"),
    ("http://127.0.0.1:9000/x", True, None),
    ("http://hooks.example.com/x", True, "https"),
    ("https://[::1/x", False, "valid URL"),
])
def test_webhook_urls_follow_the_marketplace_url_rules(settings, url, debug, problem):
    settings.DEBUG = settings.SANDBOX_ENABLED = debug
    found = webhook_url_problem(url)
    assert (found is None) if problem is None else (problem in found)


def test_old_events_are_pruned(settings):
    from cancellations.services.webhooks import events_prune

    old = Event.objects.create(type="cancellation.confirmed", data={})
    Event.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    kept = Event.objects.create(type="cancellation.confirmed", data={})
    assert events_prune() == 1 and list(Event.objects.all()) == [kept]


def test_endpoint_secret_is_stored_encrypted():
    from django.db import connection

    endpoint = webhook_endpoint_create(url="https://hooks.example.com/", events=["account.error"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM cancellations_webhookendpoint WHERE id = %s", [endpoint.pk])
        stored = cursor.fetchone()[0]
    assert endpoint.signing_secret.startswith("whsec_") and endpoint.signing_secret not in stored
    assert WebhookEndpoint.objects.get().signing_secret == endpoint.signing_secret


def test_the_readme_verification_snippet_verifies_our_signature():
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    snippet = next(block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "def verify" in block)
    namespace: dict = {}
    exec(snippet, namespace)  # noqa: S102 (our own README)
    body = b'{"id":"evt_000000000001","type":"account.error"}'
    assert namespace["verify"]("whsec_abc", body, signature_header("whsec_abc", body))
    assert not namespace["verify"]("whsec_abc", body + b"x", signature_header("whsec_abc", body))
    assert not namespace["verify"]("whsec_abc", body, signature_header("whsec_abc", body, timestamp=1000))


def test_with_a_broker_each_delivery_is_a_task_on_the_webhooks_queue_after_commit(monkeypatch,
                                                                                  django_capture_on_commit_callbacks):
    from django.db import transaction

    from backoffice.celery import app as celery_app
    from cancellations.services.events import events_record
    from cancellations.tasks import webhook_delivery_task

    sent = []
    monkeypatch.setattr(webhook_delivery_task, "apply_async", lambda args, **kw: sent.append(args))
    celery_app.conf.task_always_eager = False  # (the autouse _eager_celery fixture puts it back)
    webhook_endpoint_create(url="https://erp.example.com/", events=["account.error"])
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        events_record("account.error", [{"id": 1}])
        assert sent == []  # nothing leaves before the change commits
    assert sent == [(WebhookDelivery.objects.get().pk,)]
    route = celery_app.amqp.router.route({}, webhook_delivery_task.name, args=(1,), kwargs={})
    assert route["queue"].name == "webhooks"


def test_a_redirect_is_not_followed(fake, mirakl_order, receiver, django_capture_on_commit_callbacks):
    receiver.script = [302]
    webhook_endpoint_create(url=receiver.url, events=["cancellation.confirmed"])
    _confirm(mirakl_order, django_capture_on_commit_callbacks)
    assert webhooks_deliver_due() == {"retry": 1} and len(receiver.received) == 1
    assert WebhookAttempt.objects.get().error == "HTTP 302"


def test_the_connect_time_guard_refuses_a_name_that_resolves_to_a_private_address(
        fake, mirakl_order, receiver, settings, monkeypatch, django_capture_on_commit_callbacks):
    from cancellations.services import webhooks

    webhook_endpoint_create(url=receiver.url, events=["cancellation.confirmed"])
    _confirm(mirakl_order, django_capture_on_commit_callbacks)
    settings.SANDBOX_ENABLED = False
    # As if the URL named a public-looking host that resolves to 127.0.0.1 (DNS rebinding): the check of the
    # URL's text passes, the address connected to is refused before anything is sent.
    monkeypatch.setattr(webhooks, "webhook_url_problem", lambda url: None)
    assert webhooks_deliver_due() == {"retry": 1}
    assert receiver.received == [] and "private or loopback" in WebhookAttempt.objects.get().error


@pytest.mark.django_db(transaction=True)
def test_the_sweep_sends_to_endpoints_side_by_side_and_holds_back_after_a_failure(settings, receiver):
    from cancellations.services.events import events_record

    settings.WEBHOOK_SWEEP_THREADS = 4
    down = webhook_endpoint_create(url=receiver.url + "/down", events=["account.error"])
    up = webhook_endpoint_create(url=receiver.url + "/up", events=["account.error"])
    receiver.script = [500]  # the first POST to arrive fails; both endpoints get three events
    events_record("account.error", [{"n": i} for i in range(3)])
    # One endpoint's first POST gets the 500: its other two wait for the next sweep; the other gets all three.
    assert webhooks_deliver_due() == {"delivered": 3, "retry": 1, "held_back": 2}
    failed_endpoint = WebhookAttempt.objects.get(status_code=500).delivery.endpoint_id
    assert failed_endpoint in (down.pk, up.pk)
    by_endpoint = {e: WebhookDelivery.objects.filter(endpoint_id=e) for e in (down.pk, up.pk)}
    failing = by_endpoint[failed_endpoint]
    assert failing.filter(attempts=1).count() == 1 and failing.filter(attempts=0).count() == 2  # one try per sweep
    _due_now()
    assert webhooks_deliver_due() == {"delivered": 3}
    assert WebhookDelivery.objects.filter(state="delivered").count() == 6


def test_an_endpoint_deleted_while_its_post_is_out_leaves_nothing_behind(fake, mirakl_order, receiver, monkeypatch,
                                                                         django_capture_on_commit_callbacks):
    from cancellations.services import webhooks

    endpoint = webhook_endpoint_create(url=receiver.url, events=["cancellation.confirmed"])
    _confirm(mirakl_order, django_capture_on_commit_callbacks)
    real_post = webhooks._post

    def post_then_delete(session, endpoint_row, body):
        answer = real_post(session, endpoint_row, body)
        WebhookEndpoint.objects.filter(pk=endpoint.pk).delete()
        return answer

    monkeypatch.setattr(webhooks, "_post", post_then_delete)
    assert webhooks_deliver_due() == {"dropped": 1}
    assert not WebhookDelivery.objects.exists() and not WebhookAttempt.objects.exists()
