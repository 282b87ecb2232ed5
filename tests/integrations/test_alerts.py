"""Alert notices recorded with the change and mailed as one digest per window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from cancellations.marketplaces.base import AccountError, PermanentError
from cancellations.models import AlertNotice, Cancellation
from cancellations.services import LineRequest, cancellation_request
from cancellations.services.alerts import alerts_digest_send
from cancellations.services.history import cancellations_transition
from tests.factories import order_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def alerting(settings):
    settings.ALERT_EMAILS = ["ops@example.com", "lead@example.com"]
    settings.ALERT_DIGEST_SECONDS = 300
    return settings


def _request(order, capture):
    with capture(execute=True):
        return cancellation_request(lines=[LineRequest(line_id=line.pk, quantity=1)
                                           for line in order.lines.order_by("pk")],
                                    reason="customer_request", source="api")


def test_failures_and_account_errors_are_grouped_into_one_digest(alerting, fake, mirakl_order,
                                                                 django_capture_on_commit_callbacks):
    fake.script = [AccountError("Unauthorized", code="http_401", status_code=401)]
    created = _request(mirakl_order, django_capture_on_commit_callbacks)
    cancellations_transition(created[:1], "sending", message="sent")  # the pipeline's road (no alert)
    cancellations_transition(created[:1], "needs_attention", message="ambiguous")
    kinds = sorted(AlertNotice.objects.values_list("kind", flat=True))
    assert kinds == ["account_error", "cancellation_failed", "cancellation_failed", "cancellation_needs_attention"]
    assert alerts_digest_send() == 4
    [message] = mail.outbox
    assert message.to == ["ops@example.com", "lead@example.com"] and message.subject == "[Back-office] 4 alert(s)"
    assert "Account bestbuy: http_401" in message.body and "order M-1 line M-1-1" in message.body
    assert "needs attention" in message.body
    assert alerts_digest_send() == 0 and len(mail.outbox) == 1  # nothing new


def test_no_flood_a_second_digest_waits_for_the_window(alerting, fake, mirakl_order,
                                                       django_capture_on_commit_callbacks):
    fake.script = [PermanentError("Refused", code="bad")]
    _request(mirakl_order, django_capture_on_commit_callbacks)
    # Setup: back to sending (a rejection is final in the pipeline), so that a failure can follow.
    Cancellation.objects.update(status="sending")
    cancellations_transition(list(mirakl_order.lines.first().cancellations.all()), "failed", message="x")
    assert alerts_digest_send() == 1  # (the rejection is not an alert; the failure is)
    cancellations_transition(list(mirakl_order.lines.last().cancellations.all()), "failed", message="y")
    assert alerts_digest_send() == 0 and len(mail.outbox) == 1  # within the window: waits
    assert alerts_digest_send(now=timezone.now() + timedelta(seconds=301)) == 1
    assert len(mail.outbox) == 2


def test_crossing_the_cancellation_rate_threshold_alerts_once(alerting, fake, mirakl_account,
                                                              django_capture_on_commit_callbacks):
    alerting.CANCELLATION_RATE_THRESHOLDS = {"mirakl": 0.25}
    orders = [order_create(account=mirakl_account, lines=1, ordered_at=timezone.now()) for _ in range(4)]
    _request(orders[0], django_capture_on_commit_callbacks)  # 1 of 4 = 25 %: crosses
    _request(orders[1], django_capture_on_commit_callbacks)  # 50 %: already over, no new alert
    rate = AlertNotice.objects.filter(kind="cancellation_rate")
    assert rate.count() == 1 and "25.00 %" in rate.get().subject


def test_without_alert_emails_nothing_is_recorded_or_sent(settings, fake, mirakl_order,
                                                          django_capture_on_commit_callbacks):
    settings.ALERT_EMAILS = []
    fake.script = [AccountError("Unauthorized", code="http_401", status_code=401)]
    _request(mirakl_order, django_capture_on_commit_callbacks)
    assert not AlertNotice.objects.exists() and alerts_digest_send() == 0 and mail.outbox == []


def test_a_repeating_account_error_is_one_line_of_the_digest(alerting, mirakl_account):
    from cancellations.services.events import account_error_record

    for _ in range(3):
        account_error_record(account_id=mirakl_account.pk, error="http_401: Unauthorized")
    assert AlertNotice.objects.count() == 1 and alerts_digest_send() == 1
    account_error_record(account_id=mirakl_account.pk, error="http_401: Unauthorized")  # after the digest: new
    assert AlertNotice.objects.filter(sent_at__isnull=True).count() == 1
