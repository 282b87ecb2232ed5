"""Background work off the request thread: the embedded pool, and one broker message per request."""

from __future__ import annotations

import threading

import pytest

from backoffice.celery import app as celery_app
from cancellations.embedded_pool import EmbeddedPool, embedded_drain
from cancellations.models import MarketplaceCall
from cancellations.services import LineRequest, cancellation_request
from cancellations.services.enqueue import calls_fan_out
from tests.factories import order_create


@pytest.fixture
def pool_on(settings):
    settings.EMBEDDED_POOL_THREADS = 2
    yield
    assert embedded_drain(timeout=30)


def test_drain_waits_for_jobs_and_the_jobs_they_submit():
    pool = EmbeddedPool(2)
    done, release = [], threading.Event()

    def leaf(n):
        release.wait(5)
        done.append(n)

    def parent():
        pool.submit(leaf, 1)
        pool.submit(leaf, 2)

    pool.submit(parent)
    assert not pool.drain(timeout=0.2) and done == []
    release.set()
    assert pool.drain(timeout=5) and sorted(done) == [1, 2]


def test_a_failing_job_does_not_stop_the_pool():
    pool = EmbeddedPool(1)
    done = []
    pool.submit(lambda: 1 / 0)
    pool.submit(done.append, "after")
    assert pool.drain(timeout=5) and done == ["after"]


@pytest.mark.django_db(transaction=True)
def test_request_returns_before_the_marketplace_answers_and_the_pool_sends(fake, mirakl_account, pool_on):
    """The caller never waits on the marketplace: its sends run on the pool's threads after commit."""
    order = order_create(account=mirakl_account, lines=3)
    entered, release, senders = threading.Event(), threading.Event(), []

    def slow_answer(lines):
        senders.append(threading.current_thread().name)
        entered.set()
        assert release.wait(10), "the test never released the marketplace"
        return fake.confirm_all(lines)

    fake.script = [slow_answer]
    cancellations = cancellation_request(
        lines=[LineRequest(line_id=line.pk, quantity=1) for line in order.lines.all()], reason="34", source="api")
    # The request has returned; the marketplace is still "answering" on a pool thread (which is then outside
    # any transaction: SQLite's shared in-memory test database would refuse a concurrent read otherwise).
    assert entered.wait(10)
    statuses = {c.status for c in type(cancellations[0]).objects.filter(pk__in=[c.pk for c in cancellations])}
    assert statuses == {"sending"}
    release.set()
    assert embedded_drain(timeout=30)
    assert {c.status for c in type(cancellations[0]).objects.all()} == {"confirmed"}
    assert len(fake.sent) == 1 and senders and senders[0].startswith("embedded-pool-")


@pytest.fixture
def broker_queue():
    """Celery publishing for real (not eagerly) to a queue of its own on the configured broker: kombu's
    in-memory transport in the embedded default, Redis when CELERY_BROKER_URL names it."""
    celery_app.conf.task_always_eager = False
    with celery_app.connection_for_write() as conn:
        queue = conn.SimpleQueue(celery_app.conf.task_default_queue)
        _task_names(queue)
        yield queue
        _task_names(queue)
        queue.close()
    celery_app.conf.task_always_eager = True


def _task_names(queue) -> list[str]:
    names = []
    while True:
        try:
            message = queue.get(block=False)
        except queue.Empty:
            return names
        names.append(message.headers["task"])
        message.ack()


@pytest.mark.django_db(transaction=True)
def test_a_request_of_many_calls_publishes_one_message(fake, walmart_account, broker_queue):
    fake.per_order = True
    orders = [order_create(account=walmart_account, lines=2) for _ in range(5)]
    cancellation_request(lines=[LineRequest(line_id=line.pk, quantity=1)
                                for order in orders for line in order.lines.all()],
                         reason="CANCEL_BY_SELLER", source="api")
    assert _task_names(broker_queue) == ["cancellations.tasks.calls_fan_out_task"]
    calls = list(MarketplaceCall.objects.filter(operation="cancel").values_list("pk", flat=True))
    assert len(calls) == 5
    calls_fan_out(calls)  # what the fan-out task does in a worker
    assert _task_names(broker_queue) == ["cancellations.tasks.call_dispatch_task"] * 5


@pytest.mark.django_db(transaction=True)
def test_a_single_call_is_published_directly(fake, mirakl_account, broker_queue):
    order = order_create(account=mirakl_account, lines=2)
    cancellation_request(lines=[LineRequest(line_id=line.pk, quantity=1) for line in order.lines.all()],
                         reason="34", source="api")
    assert _task_names(broker_queue) == ["cancellations.tasks.call_dispatch_task"]


@pytest.mark.django_db(transaction=True)
def test_in_a_web_request_work_starts_only_once_the_answer_is_sent(fake, walmart_account, broker_queue):
    from cancellations.services import enqueue

    fake.per_order = True
    orders = [order_create(account=walmart_account, lines=1) for _ in range(2)]
    enqueue._after_response_start()  # what Django's request_started does
    cancellation_request(lines=[LineRequest(line_id=order.lines.get().pk, quantity=1) for order in orders],
                         reason="CANCEL_BY_SELLER", source="api")
    assert _task_names(broker_queue) == []  # committed, answer not sent yet
    enqueue._after_response_run()  # request_finished: the answer went out
    assert _task_names(broker_queue) == ["cancellations.tasks.calls_fan_out_task"]


@pytest.mark.django_db(transaction=True)
def test_the_api_answers_then_publishes(fake, mirakl_account, broker_queue):
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    order = order_create(account=mirakl_account, lines=2)
    client = APIClient()
    client.force_authenticate(get_user_model().objects.create_superuser("boss", "b@example.com", "pw-12345678"))
    answer = client.post("/api/cancellations/", {"lines": [{"line": line.pk, "quantity": 1}
                                                           for line in order.lines.all()], "reason": "34"},
                         format="json")
    assert answer.status_code == 202, answer.content
    assert _task_names(broker_queue) == ["cancellations.tasks.call_dispatch_task"]


def test_a_worker_keeps_its_database_connection_from_task_to_task():
    """Celery's Django fixup would close it around every task (one new PostgreSQL session per task); Django's
    own rule (CONN_MAX_AGE, unusable connections) decides instead, as around web requests."""
    from unittest import mock

    from celery.fixups.django import DjangoWorkerFixup
    from celery.signals import task_postrun

    from cancellations.tasks import call_dispatch_task

    fixup = DjangoWorkerFixup(celery_app)
    with mock.patch.object(DjangoWorkerFixup, "_close_database") as close_all, \
            mock.patch("django.db.close_old_connections") as django_rule:
        for _ in range(3):
            fixup.on_task_prerun(sender=call_dispatch_task)
            fixup.on_task_postrun(sender=call_dispatch_task)
            task_postrun.send(sender=call_dispatch_task)
    assert close_all.call_count == 0 and django_rule.call_count == 3
