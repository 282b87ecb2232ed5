"""With a broker: a real Celery worker sends a cancellation, and the event it records reaches a local webhook
receiver from a task on the webhooks queue, signed."""

from __future__ import annotations

import os
import time

import pytest

from backoffice.celery import app as celery_app
from cancellations.models import WebhookDelivery
from cancellations.services import LineRequest, cancellation_request
from cancellations.services.webhooks import webhook_endpoint_create
from cancellations.webhook_signature import signature_verify
from tests.integration.conftest import celery_worker_run, lines_of

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker_on_both_queues(postgres_only, redis_broker_url, live_server):
    queue, hooks = f"test-{os.getpid()}", f"hooks-{os.getpid()}"
    conf = celery_app.conf
    before = conf.task_always_eager, conf.task_default_queue, conf.task_routes
    with celery_worker_run(broker_url=redis_broker_url, queues=[queue, hooks],
                           env={"CELERY_TASK_DEFAULT_QUEUE": queue, "WEBHOOK_QUEUE": hooks}) as proc:
        conf.task_always_eager, conf.task_default_queue = False, queue
        conf.task_routes = {name: {"queue": hooks} for name in conf.task_routes}
        try:
            yield proc
        finally:
            conf.task_always_eager, conf.task_default_queue, conf.task_routes = before


def test_the_worker_delivers_the_confirmed_event(worker_on_both_queues, mirakl_live, receiver):
    endpoint = webhook_endpoint_create(url=receiver.url, events=["cancellation.confirmed"])
    line = lines_of(mirakl_live, "BBY-1002-A")[0]
    (c,) = cancellation_request(lines=[LineRequest(line_id=line.pk, quantity=1)], reason="21", source="api")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not receiver.received:
        assert worker_on_both_queues.poll() is None, "the worker exited"
        time.sleep(0.3)
    [hit] = receiver.received
    assert signature_verify(endpoint.signing_secret, hit.body, hit.headers["Backoffice-Signature"])
    assert f'"id":{c.pk},' in hit.body.decode()
    delivery = WebhookDelivery.objects.get()
    for _ in range(20):  # the attempt is recorded right after the answer
        if delivery.state == "delivered":
            break
        time.sleep(0.2)
        delivery.refresh_from_db()
    assert delivery.state == "delivered" and delivery.attempts == 1
