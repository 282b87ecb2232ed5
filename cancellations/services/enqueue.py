"""Handing work to the background once the current transaction commits: the only Celery seam.

With a broker, a request publishes one message whatever its size: one dispatch task for a single call, else one
fan-out task that publishes the dispatch tasks from a worker. In the embedded default (no broker) tasks run on
the in-process pool (``embedded_pool``), never in the request thread that asked for them.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from celery import Task
from django.core.signals import request_finished, request_started
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from backoffice.celery import app as celery_app

from ..embedded_pool import embedded_pool, embedded_submit, embedded_submit_later

log = logging.getLogger(__name__)


_local = threading.local()


def task_submit(task: Task, *args: Any, countdown: float = 0) -> None:
    """Run ``task(*args)`` in the background, not before ``countdown`` seconds.

    In a web request, background work starts once the answer has been sent: no marketplace call races the
    answer (and a crash in between leaves queued rows the sweeper sends). Eager mode cannot wait: a delayed task
    is left to the sweeper, which finds the work due in the database.
    """
    eager = celery_app.conf.task_always_eager
    if eager and (countdown > 0 or embedded_pool() is None):
        if countdown <= 0:
            task.delay(*args)  # inline (tests): the caller sees the outcome when it returns
        return
    if eager:
        job = functools.partial(embedded_submit, task.delay, *args)
    else:
        job = functools.partial(task.apply_async, args, countdown=countdown or None)
    deferred = getattr(_local, "after_response", None)
    if deferred is not None:
        deferred.append(job)
    else:
        job()


@receiver(request_started, dispatch_uid="enqueue-after-response-start")
def _after_response_start(**kwargs: Any) -> None:
    _local.after_response = []


@receiver(request_finished, dispatch_uid="enqueue-after-response-run")
def _after_response_run(**kwargs: Any) -> None:
    jobs, _local.after_response = getattr(_local, "after_response", None) or [], None
    for job in jobs:
        try:
            job()
        except Exception:  # the work is in the database: the sweeper sends it
            log.exception("Could not start background work after the answer")


def calls_enqueue_on_commit(call_ids: Sequence[int]) -> None:
    ids = list(call_ids)
    transaction.on_commit(lambda: calls_enqueue(ids), robust=True)


def calls_enqueue(call_ids: Sequence[int]) -> None:
    """Dispatch these calls: one message to the broker (a fan-out task when there are several)."""
    from ..tasks import call_dispatch_task, calls_fan_out_task

    ids = list(call_ids)
    if not ids:
        return
    _dispatch_expected(ids, timezone.now())
    if celery_app.conf.task_always_eager:
        for call_id in ids:  # in process: no message to save, and the pool sends them side by side
            task_submit(call_dispatch_task, call_id)
    elif len(ids) == 1:
        task_submit(call_dispatch_task, ids[0])
    elif ids:
        task_submit(calls_fan_out_task, ids)


def calls_fan_out(call_ids: Sequence[int]) -> None:
    """Publish one dispatch task per call over one broker connection (runs in a worker, not the web process)."""
    from ..tasks import call_dispatch_task

    with celery_app.producer_or_acquire() as producer:
        for call_id in call_ids:
            call_dispatch_task.apply_async((call_id,), producer=producer)


def _dispatch_expected(call_ids: Sequence[int], when: datetime) -> None:
    """Note when the dispatch about to be published should run, so the sweep leaves it alone until long after."""
    from ..models import CallState, MarketplaceCall

    MarketplaceCall.objects.filter(pk__in=call_ids, state=CallState.QUEUED).update(dispatch_expected_at=when)


def call_dispatch_later(call_id: int, seconds: float) -> None:
    """Dispatch this call again in ``seconds`` (its account's pace said wait); inline, the sweeper does."""
    from ..tasks import call_dispatch_task

    if not celery_app.conf.task_always_eager:
        _dispatch_expected([call_id], timezone.now() + timedelta(seconds=seconds))
        call_dispatch_task.apply_async((call_id,), countdown=seconds)
    elif embedded_pool() is not None:
        embedded_submit_later(seconds, call_dispatch_task.delay, call_id)


def verification_enqueue_on_commit(cancellation_ids: Sequence[int], *, delay: float = 0) -> None:
    """Verify after ``delay`` seconds (eager mode leaves a delayed check to the sweeper)."""
    from ..tasks import cancellations_verify_task

    ids = list(cancellation_ids)
    transaction.on_commit(lambda: task_submit(cancellations_verify_task, ids, countdown=delay), robust=True)


def orders_sync_enqueue_on_commit(account_id: int, since_iso: str | None) -> None:
    from ..tasks import orders_sync_task

    # robust: whatever happens in an eager (embedded) run, the caller's answer is "queued", as with a broker.
    transaction.on_commit(lambda: task_submit(orders_sync_task, account_id, since_iso), robust=True)


def connection_test_enqueue_on_commit(account_id: int) -> None:
    from ..tasks import account_connection_test_task

    transaction.on_commit(lambda: task_submit(account_connection_test_task, account_id), robust=True)


def deliveries_enqueue_on_commit(delivery_ids: Sequence[int]) -> None:
    """With a broker, one task per webhook delivery on the webhooks queue once the change commits.

    In the embedded default the sweep alone delivers (``deliver_webhooks --loop``, the demo's delivery thread):
    the in-process pool also sends cancellations, and a slow endpoint must never take its threads.
    """
    if celery_app.conf.task_always_eager:
        return
    from ..tasks import webhook_delivery_task

    ids = list(delivery_ids)
    transaction.on_commit(lambda: [task_submit(webhook_delivery_task, pk) for pk in ids], robust=True)
