"""Issue 8 §5: no path sends again without counting an attempt and backing off."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.utils import timezone

from cancellations.checks import stale_sending_outlasts_a_send
from cancellations.marketplaces.base import PermanentError, TransientError
from cancellations.models import Cancellation
from cancellations.services import LineRequest, cancellation_request, cancellations_sweep

pytestmark = pytest.mark.django_db


def _request(order, quantity=1):
    return cancellation_request(lines=[LineRequest(line_id=line.pk, quantity=quantity)
                                       for line in order.lines.order_by("pk")],
                                reason="customer_request", source="cli")


def test_an_error_naming_lines_the_call_did_not_carry_is_no_per_line_refusal(
        fake, mirakl_order, django_capture_on_commit_callbacks):
    """The probe: a 400 naming line 99 sent every line back to pending and re-sent at once, 13 times."""
    fake.script = [PermanentError("Invalid line 99", code="INVALID_REQUEST_CONTENT",
                                  line_errors={"99": ("INVALID_REQUEST_CONTENT", "Line 99 unknown")})] * 20
    with django_capture_on_commit_callbacks(execute=True):
        created = _request(mirakl_order)
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            cancellations_sweep()
    assert len(fake.sent) == 1
    for c in Cancellation.objects.filter(pk__in=[c.pk for c in created]):
        assert (c.status, c.attempts, c.error_code) == ("rejected", 1, "INVALID_REQUEST_CONTENT")


def test_lines_not_named_by_a_refusal_back_off_and_spend_their_budget(
        fake, mirakl_order, settings, django_capture_on_commit_callbacks):
    settings.CANCELLATION_MAX_ATTEMPTS = 2
    refusal = PermanentError("bad", code="INVALID", line_errors={"M-1-2": ("SHIPPED", "Line shipped")})
    fake.script = [refusal, TransientError("Too many requests", code="rate_limited", status_code=429)]
    with django_capture_on_commit_callbacks(execute=True):
        innocent, guilty = _request(mirakl_order)
    innocent.refresh_from_db()
    assert innocent.status == "retry_scheduled" and innocent.attempts == 1
    assert innocent.next_attempt_at > timezone.now() + timedelta(seconds=1)
    with django_capture_on_commit_callbacks(execute=True):
        cancellations_sweep()
    assert len(fake.sent) == 1  # not due yet: nothing re-sent
    Cancellation.objects.filter(pk=innocent.pk).update(next_attempt_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        cancellations_sweep()
    innocent.refresh_from_db()
    assert len(fake.sent) == 2 and innocent.attempts == 2
    assert innocent.status == "failed"  # the budget (2) is spent: it gives up instead of sending a third time


@pytest.mark.parametrize(("stale", "timeouts", "errors"), [
    (300, (5.0, 30.0), 0),
    (60, (5.0, 30.0), 1),  # 60 s < token fetch (35 s) + cancel call (35 s)
    (70, (5.0, 30.0), 1),
    (71, (5.0, 30.0), 0),
])
def test_stale_sending_shorter_than_the_longest_send_is_refused(settings, stale, timeouts, errors):
    settings.CANCELLATION_STALE_SENDING_SECONDS = stale
    settings.MARKETPLACE_HTTP_TIMEOUT = timeouts
    found = stale_sending_outlasts_a_send(None)
    assert len(found) == errors
    assert all(e.id == "cancellations.E001" and "CANCELLATION_STALE_SENDING_SECONDS" in e.msg for e in found)


def test_the_check_stops_start_up(settings):
    settings.CANCELLATION_STALE_SENDING_SECONDS = 10
    with pytest.raises(SystemCheckError, match="cancellations.E001"):
        call_command("check")
