"""With a broker: a real Celery worker sends a cancellation, and the event it records reaches a local webhook
receiver from a task on the webhooks queue, signed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from backoffice.celery import app as celery_app
from cancellations.models import WebhookDelivery
from cancellations.services import LineRequest, cancellation_request
from cancellations.services.webhooks import webhook_endpoint_create
from cancellations.webhook_signature import signature_verify
from tests.integration.conftest import lines_of

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker_on_both_queues(postgres_only, redis_broker_url, live_server):
    db = connection.settings_dict
    database_url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    queue, hooks = f"test-{os.getpid()}", f"hooks-{os.getpid()}"
    env = {**os.environ, "DATABASE_URL": database_url, "CELERY_BROKER_URL": redis_broker_url,
           "CELERY_TASK_DEFAULT_QUEUE": queue, "WEBHOOK_QUEUE": hooks}
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "backoffice", "worker", "--pool", "threads", "--concurrency", "4",
         "--queues", f"{queue},{hooks}", "--without-mingle", "--without-gossip", "--loglevel", "INFO"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    conf = celery_app.conf
    before = conf.task_always_eager, conf.task_default_queue, conf.task_routes
    conf.task_always_eager, conf.task_default_queue = False, queue
    conf.task_routes = {name: {"queue": hooks} for name in conf.task_routes}
    try:
        yield proc
    finally:
        conf.task_always_eager, conf.task_default_queue, conf.task_routes = before
        proc.terminate()
        try:
            output, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
        print(output[-4000:])


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
