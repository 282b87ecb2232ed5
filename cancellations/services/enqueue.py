"""Handing work to Celery once the current transaction commits (inline in the embedded default)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from backoffice.celery import app as celery_app


def calls_enqueue_on_commit(call_ids: Sequence[int]) -> None:
    ids = list(call_ids)
    transaction.on_commit(lambda: calls_enqueue(ids), robust=True)


def calls_enqueue(call_ids: Sequence[int]) -> None:
    from ..tasks import call_dispatch_task

    for call_id in call_ids:
        call_dispatch_task.delay(call_id)


def verification_enqueue_on_commit(cancellation_ids: Sequence[int], *, delay: float = 0) -> None:
    """Verify after ``delay`` seconds. Eager mode cannot wait, so a delayed check is left to the sweeper."""
    from ..tasks import cancellations_verify_task

    ids = list(cancellation_ids)
    if delay <= 0:
        transaction.on_commit(lambda: cancellations_verify_task.delay(ids), robust=True)
    elif not celery_app.conf.task_always_eager:
        transaction.on_commit(lambda: cancellations_verify_task.apply_async((ids,), countdown=delay), robust=True)
