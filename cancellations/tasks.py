"""Thin Celery tasks: load ids, call a service. Retry timing is the workflow's (next_attempt_at + sweeper)."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task
from django.conf import settings

from .marketplaces.base import MarketplaceError
from .models import MarketplaceAccount
from .services import call_dispatch, cancellations_sweep, cancellations_verify, orders_sync
from .services.account_connection import account_connection_test
from .services.enqueue import calls_fan_out
from .services.outbound import outbound_sweep
from .services.webhooks import webhook_delivery_send


@shared_task(ignore_result=True)
def call_dispatch_task(call_id: int) -> str:
    return call_dispatch(call_id=call_id)


@shared_task(ignore_result=True)
def calls_fan_out_task(call_ids: list[int]) -> int:
    """A request's calls, published here rather than one by one in the web process."""
    calls_fan_out(call_ids)
    return len(call_ids)


@shared_task(ignore_result=True)
def cancellations_verify_task(cancellation_ids: list[int]) -> dict:
    return cancellations_verify(cancellation_ids=cancellation_ids)


@shared_task(ignore_result=True)
def cancellations_sweep_task() -> dict:
    return cancellations_sweep(dispatch_inline=False, queued_older_than=10,
                               redispatch_after=settings.CALL_REDISPATCH_AFTER_SECONDS)


@shared_task(ignore_result=True)
def orders_sync_task(account_id: int, since_iso: str | None = None) -> dict:
    account = MarketplaceAccount.objects.get(pk=account_id)
    since = datetime.fromisoformat(since_iso) if since_iso else None
    try:
        return orders_sync(account=account, since=since).as_dict()
    except MarketplaceError as exc:  # already recorded on the account; a retry is the next periodic sync
        return {"account": account.name, "error": exc.summary()}


@shared_task(ignore_result=True)
def orders_sync_all_task() -> int:
    """One task per account, so one marketplace failing does not hold up the others."""
    ids = list(MarketplaceAccount.objects.filter(enabled=True).values_list("pk", flat=True))
    for account_id in ids:
        orders_sync_task.delay(account_id)
    return len(ids)


@shared_task(ignore_result=True)
def webhook_delivery_task(delivery_id: int) -> str:
    return webhook_delivery_send(delivery_id=delivery_id)


@shared_task(ignore_result=True)
def outbound_sweep_task() -> dict:
    """Due webhook deliveries, the alert digest and old events (on the webhooks queue)."""
    return outbound_sweep()


@shared_task(ignore_result=True)
def call_bodies_blank_task() -> int:
    """Daily: blank call bodies older than CALL_BODY_RETENTION_DAYS."""
    from .services.call_retention import call_bodies_blank

    return call_bodies_blank()


@shared_task(ignore_result=True)
def account_connection_test_task(account_id: int) -> bool:
    account = MarketplaceAccount.objects.filter(pk=account_id).first()
    return account_connection_test(account=account)[0] if account is not None else False
