"""Admin actions that call services: retry, verify now, sync orders now."""

from __future__ import annotations

from django.contrib.messages import get_messages
from django.urls import reverse

from cancellations.models import CancellationEvent, CancellationStatus
from tests.admin.builders import cancellation_create
from tests.factories import account_create, order_create


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _line(marketplace: str = "mirakl"):
    return order_create(account=account_create(marketplace=marketplace), quantity=3).lines.get()


def test_retry_requeues_failed_ones_and_reports_the_others(admin_client, django_capture_on_commit_callbacks):
    line = _line()
    failed = cancellation_create(line, status=CancellationStatus.FAILED, error_code="500")
    confirmed = cancellation_create(line, status=CancellationStatus.CONFIRMED)
    with django_capture_on_commit_callbacks(execute=False):
        response = admin_client.post(reverse("admin:cancellations_cancellation_changelist"), {
            "action": "retry", "_selected_action": [failed.pk, confirmed.pk],
        })
    assert response.status_code == 302
    failed.refresh_from_db()
    confirmed.refresh_from_db()
    assert failed.status == CancellationStatus.PENDING and failed.error_code == ""
    assert confirmed.status == CancellationStatus.CONFIRMED
    event = CancellationEvent.objects.get(cancellation=failed)
    assert (event.source, event.actor.is_superuser) == ("admin", True)
    messages = _messages(response)
    assert "1 cancellation(s) queued for retry." in messages
    assert any(m.startswith(f"1 cancellation(s) skipped: #{confirmed.pk}") for m in messages)


def test_verify_now_asks_for_a_read_back(admin_client, django_capture_on_commit_callbacks):
    line = _line("walmart_ca")
    sent = cancellation_create(line, status=CancellationStatus.RETRY_SCHEDULED, baseline_cancelled_quantity=0)
    never_sent = cancellation_create(line, status=CancellationStatus.FAILED)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(reverse("admin:cancellations_cancellation_changelist"), {
            "action": "verify_now", "_selected_action": [sent.pk, never_sent.pk],
        })
    sent.refresh_from_db()
    assert sent.status == CancellationStatus.VERIFYING
    assert len(callbacks) == 1
    messages = _messages(response)
    assert "1 cancellation(s) queued for verification." in messages
    assert any("never sent" in m for m in messages)


def test_sync_orders_now_queues_enabled_accounts_only(admin_client, django_capture_on_commit_callbacks):
    enabled = account_create(marketplace="mirakl")
    disabled = account_create(marketplace="mirakl", enabled=False)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(reverse("admin:cancellations_marketplaceaccount_changelist"), {
            "action": "sync_orders_now", "_selected_action": [enabled.pk, disabled.pk],
        })
    assert response.status_code == 302
    assert len(callbacks) == 1
    assert "Order sync queued for 1 account(s). 1 disabled account(s) skipped." in _messages(response)


def test_needs_attention_filter(admin_client):
    line = _line()
    failed = cancellation_create(line, status=CancellationStatus.FAILED)
    cancellation_create(line, status=CancellationStatus.PENDING)
    url = reverse("admin:cancellations_cancellation_changelist")
    response = admin_client.get(url, {"needs_attention": "true"})
    assert [c.pk for c in response.context["cl"].result_list] == [failed.pk]
    assert admin_client.get(url, {"needs_attention": "false"}).context["cl"].result_count == 1
