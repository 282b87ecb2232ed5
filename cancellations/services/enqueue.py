"""Handing work to the background once the current transaction commits: the only Celery seam.

With a broker, a request publishes one message whatever its size: one dispatch task for a single call, else one
fan-out task that publishes the dispatch tasks from a worker. In the embedded default (no broker) tasks run on
the in-process pool (``embedded_pool``), never in the request thread that asked for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery import Task
from django.db import transaction

from backoffice.celery import app as celery_app

from ..embedded_pool import embedded_submit


def task_submit(task: Task, *args: Any, countdown: float = 0) -> None:
    """Run ``task(*args)`` in the background, not before ``countdown`` seconds.

    Eager mode cannot wait: a delayed task is left to the sweeper, which finds the work due in the database.
    """
    if not celery_app.conf.task_always_eager:
        task.apply_async(args, countdown=countdown or None)
    elif countdown <= 0:
        embedded_submit(task.delay, *args)


def calls_enqueue_on_commit(call_ids: Sequence[int]) -> None:
    ids = list(call_ids)
    transaction.on_commit(lambda: calls_enqueue(ids), robust=True)


def calls_enqueue(call_ids: Sequence[int]) -> None:
    """Dispatch these calls: one message to the broker (a fan-out task when there are several)."""
    from ..tasks import call_dispatch_task, calls_fan_out_task

    ids = list(call_ids)
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


def verification_enqueue_on_commit(cancellation_ids: Sequence[int], *, delay: float = 0) -> None:
    """Verify after ``delay`` seconds (eager mode leaves a delayed check to the sweeper)."""
    from ..tasks import cancellations_verify_task

    ids = list(cancellation_ids)
    transaction.on_commit(lambda: task_submit(cancellations_verify_task, ids, countdown=delay), robust=True)


def orders_sync_enqueue_on_commit(account_id: int, since_iso: str | None) -> None:
    from ..tasks import orders_sync_task

    # robust: whatever happens in an eager (embedded) run, the caller's answer is "queued", as with a broker.
    transaction.on_commit(lambda: task_submit(orders_sync_task, account_id, since_iso), robust=True)


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
