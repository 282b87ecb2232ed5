"""A real Celery worker process (thread pool, as the Procfile runs it), fed through the Redis broker, sends
cancellations end to end."""

from __future__ import annotations

import os
import time

import pytest

from backoffice.celery import app as celery_app
from cancellations.models import Cancellation, OrderLine
from cancellations.sandbox import walmart as walmart_sandbox
from cancellations.services import LineRequest, cancellation_request
from tests.integration.conftest import (
    cancel_calls_received,
    celery_worker_run,
    lines_of,
    sandbox_account,
    walmart_credentials,
)

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(postgres_only, redis_broker_url, live_server):
    """Start `celery worker` on the test database; stop it afterwards."""
    queue = f"test-{os.getpid()}"
    before = celery_app.conf.task_always_eager, celery_app.conf.task_default_queue
    with celery_worker_run(broker_url=redis_broker_url, queues=[queue],
                           env={"CELERY_TASK_DEFAULT_QUEUE": queue}) as proc:
        celery_app.conf.task_always_eager = False
        celery_app.conf.task_default_queue = queue
        try:
            yield proc
        finally:
            celery_app.conf.task_always_eager, celery_app.conf.task_default_queue = before


def test_worker_processes_a_cancellation_end_to_end(worker, mirakl_live):
    line = lines_of(mirakl_live, "BBY-1002-A")[0]
    (c,) = cancellation_request(lines=[LineRequest(line_id=line.pk, quantity=1)], reason="21", source="api")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        c.refresh_from_db()
        if c.status not in ("pending", "sending"):
            break
        assert worker.poll() is None, "the worker exited"
        time.sleep(0.5)
    assert c.status == "confirmed", c.status
    assert c.marketplace_reference and cancel_calls_received(mirakl_live) == 1


def _settled(ids: list[int], worker, timeout: float = 60) -> list[Cancellation]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cancellations = list(Cancellation.objects.filter(pk__in=ids))
        if all(c.status not in ("pending", "sending") for c in cancellations):
            return cancellations
        assert worker.poll() is None, "the worker exited"
        time.sleep(0.5)
    return list(Cancellation.objects.filter(pk__in=ids))


def test_worker_threads_send_a_fanned_out_request_one_call_per_purchase_order(worker, live_server):
    credentials, options = walmart_credentials("signature")

    def seed(seller):
        for n in range(4):
            lines = [{"sku": f"F{n}-{i}", "quantity": 2, "unit_price": "5.00"} for i in range(2)]
            walmart_sandbox.order_add(seller, purchase_order_id=f"FAN-{n}", lines=lines)

    account = sandbox_account(live_server, name="walmart-fan-out", marketplace="walmart_ca",
                              credentials=credentials, options=options, seed=seed)
    lines = OrderLine.objects.filter(order__account=account)
    requested = cancellation_request(lines=[LineRequest(line_id=line.pk, quantity=1) for line in lines],
                                     reason="CANCEL_BY_SELLER", source="api")
    cancellations = _settled([c.pk for c in requested], worker)
    assert {c.status for c in cancellations} == {"confirmed"} and len(cancellations) == 8
    assert cancel_calls_received(account) == 4
