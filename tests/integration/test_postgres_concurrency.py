"""Two dispatchers racing over the same due work on PostgreSQL send every call exactly once."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from cancellations.models import CallState, Cancellation, MarketplaceCall
from cancellations.services import LineRequest, call_dispatch, cancellation_request, cancellations_sweep
from tests.factories import order_create
from tests.fake_backend import FakeBackend
from tests.services.conftest import fake, mirakl_account  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class SlowFakeBackend(FakeBackend):
    """Holds each send open a moment so racing dispatchers really overlap."""

    lock = threading.Lock()

    def cancel_lines(self, lines):
        time.sleep(0.05)
        with SlowFakeBackend.lock:
            return super().cancel_lines(lines)


def _race(target, n=2):
    errors = []

    def run():
        try:
            target()
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors


@pytest.fixture
def slow_backend(fake, settings):  # noqa: F811
    settings.MARKETPLACE_BACKENDS = {"mirakl": "tests.integration.test_postgres_concurrency.SlowFakeBackend"}
    return SlowFakeBackend


def _queued_work(account, orders=3, lines=2):
    requests = []
    for n in range(orders):
        order = order_create(account=account, external_id=f"PG-{n}", lines=lines)
        requests += [LineRequest(line_id=line.pk, quantity=1) for line in order.lines.all()]
    # Keep the on-commit dispatch from running: the racing dispatchers below are the only senders.
    from unittest import mock

    with mock.patch("cancellations.services.enqueue.calls_enqueue"):
        cancellation_request(lines=requests, reason="34", source="cli")


def test_two_dispatchers_on_one_call_send_it_once(postgres_only, slow_backend, mirakl_account):  # noqa: F811
    _queued_work(mirakl_account, orders=1, lines=2)
    call = MarketplaceCall.objects.get(state=CallState.QUEUED)
    _race(lambda: call_dispatch(call_id=call.pk))
    assert len(slow_backend.sent) == 1
    assert Cancellation.objects.filter(status="confirmed").count() == 2


def test_two_sweepers_send_every_call_once(postgres_only, slow_backend, mirakl_account, settings):  # noqa: F811
    slow_backend.max_lines_per_cancel = 1  # twenty calls to share out between the sweepers
    try:
        _queued_work(mirakl_account, orders=5, lines=4)
        assert MarketplaceCall.objects.filter(state=CallState.QUEUED).count() == 20
        _race(cancellations_sweep)
    finally:
        slow_backend.max_lines_per_cancel = 100
    sent_refs = sorted(line.ref for batch in slow_backend.sent for line in batch)
    assert sent_refs == sorted(Cancellation.objects.values_list("pk", flat=True))
    assert Cancellation.objects.filter(status="confirmed").count() == 20


def test_a_double_submit_racing_on_postgres_creates_one_cancellation(postgres_only, fake, mirakl_account):  # noqa: F811
    import uuid
    from unittest import mock

    order = order_create(account=mirakl_account, external_id="DS", lines=1, quantity=3)
    line = order.lines.get()
    request_id = uuid.uuid4()
    results = []

    def submit():
        results.append(cancellation_request(lines=[LineRequest(line_id=line.pk, quantity=1)], reason="34",
                                            source="admin", request_id=request_id))

    with mock.patch("cancellations.services.enqueue.calls_enqueue"):
        _race(submit)
    assert Cancellation.objects.count() == 1
    assert [[c.pk for c in r] for r in results] == [[Cancellation.objects.get().pk]] * 2
