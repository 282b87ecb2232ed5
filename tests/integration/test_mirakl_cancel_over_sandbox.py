"""Cancelling Mirakl lines end to end: service → Celery task → real HTTP → sandbox → recorded result."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from cancellations.models import Cancellation, MarketplaceCall
from cancellations.services import LineRequest, cancellation_request, cancellations_sweep, orders_sync
from tests.factories import account_pause_over
from tests.integration.conftest import cancel_calls_received, fault_add, lines_of

pytestmark = pytest.mark.django_db(transaction=True)


def _cancel(lines_and_qty, reason="21"):
    return cancellation_request(lines=[LineRequest(line_id=line.pk, quantity=q) for line, q in lines_and_qty],
                                reason=reason, source="api")


def _fresh(cancellations):
    return list(Cancellation.objects.filter(pk__in=[c.pk for c in cancellations]).order_by("pk"))


def test_lines_of_several_orders_go_in_one_call_with_exact_amounts(mirakl_live):
    hdmi, hub = lines_of(mirakl_live, "BBY-1002-A")
    (batteries,) = lines_of(mirakl_live, "BBY-1003-A")
    first = _fresh(_cancel([(hdmi, 1), (hub, 2), (batteries, 3)]))
    assert cancel_calls_received(mirakl_live) == 1
    assert [c.status for c in first] == ["confirmed"] * 3
    assert all(c.marketplace_reference for c in first)
    # HDMI: 3 x 10.00 + 6.00 shipping, HST 13% → one unit is a third of each, rounded half-up.
    assert (first[0].amount, first[0].shipping_amount) == (Decimal("10.00"), Decimal("2.00"))
    # Batteries: 4 x 2.81 = 11.24; three units = 8.43; shipping 3.99 → 2.99 (2.9925 rounded).
    assert (first[2].amount, first[2].shipping_amount) == (Decimal("8.43"), Decimal("2.99"))

    # The remainder takes exactly what is left, so the line sums to its price to the cent.
    rest = _fresh(_cancel([(hdmi, None), (batteries, None)]))
    assert [c.status for c in rest] == ["confirmed", "confirmed"]
    assert (rest[0].amount, rest[0].shipping_amount) == (Decimal("20.00"), Decimal("4.00"))
    assert (rest[1].amount, rest[1].shipping_amount) == (Decimal("2.81"), Decimal("1.00"))
    assert cancel_calls_received(mirakl_live) == 2

    # A re-sync reads the marketplace's cancellations and agrees with what we recorded.
    orders_sync(account=mirakl_live)
    hdmi.refresh_from_db()
    assert hdmi.cancelled_quantity == 3 and hdmi.status == "CANCELED"
    assert hdmi.cancelled_amount == Decimal("30.00") and hdmi.cancelled_shipping_amount == Decimal("6.00")


def test_rate_limit_schedules_a_retry_that_the_sweeper_sends(mirakl_live):
    (line,) = lines_of(mirakl_live, "BBY-1001-A")
    fault_add(mirakl_live, "rate_limit", retry_after=60)
    (c,) = _fresh(_cancel([(line, 1)]))
    assert c.status == "retry_scheduled" and c.error_code == "http_429" and c.attempts == 1
    Cancellation.objects.filter(pk=c.pk).update(next_attempt_at=c.created_at)
    account_pause_over(mirakl_live.pk)  # the 429 paused the whole account for its Retry-After
    cancellations_sweep()
    (c,) = _fresh([c])
    assert c.status == "confirmed" and c.attempts == 2 and cancel_calls_received(mirakl_live) == 2


@pytest.mark.parametrize("kind", ["server_error", "slow"])
def test_unknown_outcome_not_applied_is_verified_then_sent_again(mirakl_live, kind):
    (line,) = lines_of(mirakl_live, "BBY-1001-A")
    fault_add(mirakl_live, kind, delay=3)
    (c,) = _fresh(_cancel([(line, 1)]))
    assert c.status == "retry_scheduled" and c.error_code == "not_applied"  # read back: it did not apply
    Cancellation.objects.filter(pk=c.pk).update(next_attempt_at=c.created_at)
    cancellations_sweep()
    (c,) = _fresh([c])
    assert c.status == "confirmed"
    statuses = list(c.events.values_list("to_status", flat=True))
    assert statuses == ["pending", "sending", "verifying", "retry_scheduled", "pending", "sending", "confirmed"]
    assert cancel_calls_received(mirakl_live) == 2
    assert MarketplaceCall.objects.filter(cancellations=c, operation="get_order").count() == 1


def test_timeout_after_the_marketplace_applied_confirms_without_a_second_cancel(mirakl_live):
    hdmi, _ = lines_of(mirakl_live, "BBY-1002-A")
    fault_add(mirakl_live, "slow_after_apply", delay=3)
    (c,) = _fresh(_cancel([(hdmi, 2)]))
    assert c.status == "confirmed"
    assert cancel_calls_received(mirakl_live) == 1
    assert c.marketplace_reference  # found on the order read back
    assert "verifying" in c.events.values_list("to_status", flat=True)
    hdmi.refresh_from_db()
    assert hdmi.cancelled_quantity == 2


def test_business_rejection_of_one_line_keeps_the_message_and_sends_the_others(mirakl_live):
    hdmi, hub = lines_of(mirakl_live, "BBY-1002-A")
    fault_add(mirakl_live, "reject_line", line_id=hub.external_id, message="Line is locked by an incident")
    c_hdmi, c_hub = _fresh(_cancel([(hdmi, 1), (hub, 1)]))
    assert c_hub.status == "rejected" and "Line is locked by an incident" in c_hub.error_message
    assert c_hdmi.status == "retry_scheduled"  # sent again within its budget, after a backoff
    Cancellation.objects.filter(pk=c_hdmi.pk).update(next_attempt_at=timezone.now())
    cancellations_sweep()
    c_hdmi.refresh_from_db()
    assert c_hdmi.status == "confirmed" and c_hdmi.attempts == 2


def test_bad_api_key_fails_and_flags_the_account(mirakl_live):
    (line,) = lines_of(mirakl_live, "BBY-1001-A")
    fault_add(mirakl_live, "unauthorized")
    (c,) = _fresh(_cancel([(line, 1)]))
    mirakl_live.refresh_from_db()
    assert c.status == "failed" and c.error_code and mirakl_live.last_error


def test_recorded_calls_never_contain_the_api_key(mirakl_live):
    (line,) = lines_of(mirakl_live, "BBY-1001-A")
    _cancel([(line, 1)])
    key = mirakl_live.credentials["api_key"]
    for call in MarketplaceCall.objects.all():
        dump = f"{call.url}{call.request_headers}{call.request_body}{call.response_headers}{call.response_body}"
        assert key not in dump
