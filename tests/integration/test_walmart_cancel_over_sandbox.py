"""Cancelling Walmart CA lines end to end, in both auth modes (signature/XML and OAuth/JSON)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from cancellations.models import Cancellation, MarketplaceCall, OrderLine
from cancellations.services import LineRequest, cancellation_request, cancellations_sweep, orders_sync
from tests.integration.conftest import cancel_calls_received, fault_add, lines_of

pytestmark = pytest.mark.django_db(transaction=True)


def _cancel(lines_and_qty, reason="customer_request"):
    created = cancellation_request(lines=[LineRequest(line_id=line.pk, quantity=q) for line, q in lines_and_qty],
                                   reason=reason, source="api")
    return list(Cancellation.objects.filter(pk__in=[c.pk for c in created]).order_by("pk"))


def test_a_multi_line_order_is_cancelled_in_one_call(walmart_live):
    towels, mugs, lamp = lines_of(walmart_live, "5801000000022")
    done = _cancel([(towels, 2), (mugs, 6), (lamp, 1)])
    assert [c.status for c in done] == ["confirmed"] * 3
    assert [c.reason_code for c in done] == ["CUSTOMER_REQUESTED_SELLER_TO_CANCEL"] * 3
    assert cancel_calls_received(walmart_live) == 1
    call = MarketplaceCall.objects.get(operation="cancel")
    assert call.status_code == 200 and set(call.cancellations.all()) == set(done)
    towels.refresh_from_db()
    assert (towels.cancelled_quantity, OrderLine.objects.with_in_flight().get(pk=towels.pk).cancellable_quantity) \
        == (2, 2)
    # The marketplace agrees after a fresh sync; the same units cannot be cancelled twice.
    orders_sync(account=walmart_live)
    mugs.refresh_from_db()
    assert mugs.cancelled_quantity == 6 and mugs.status == "Cancelled"


def test_lines_of_two_orders_make_two_calls(walmart_live):
    (kettle,) = lines_of(walmart_live, "5801000000011")
    boots, socks = lines_of(walmart_live, "5801000000033")
    done = _cancel([(kettle, 1), (boots, 1), (socks, 3)], reason="CANCEL_BY_SELLER")
    assert [c.status for c in done] == ["confirmed"] * 3
    assert cancel_calls_received(walmart_live) == 2


def test_timeout_after_apply_is_confirmed_by_reading_the_order_back(walmart_live):
    (kettle,) = lines_of(walmart_live, "5801000000011")
    fault_add(walmart_live, "slow_after_apply", delay=3)
    (c,) = _cancel([(kettle, 1)])
    assert c.status == "confirmed" and cancel_calls_received(walmart_live) == 1
    assert "verifying" in c.events.values_list("to_status", flat=True)


@pytest.mark.parametrize(("kind", "status", "code"), [
    ("rate_limit", "retry_scheduled", "REQUEST_THRESHOLD_VIOLATED"),
    ("unauthorized", "failed", "UNAUTHORIZED"),
])
def test_faults_end_in_the_right_status(walmart_live, kind, status, code):
    (kettle,) = lines_of(walmart_live, "5801000000011")
    fault_add(walmart_live, kind, retry_after=30)
    (c,) = _cancel([(kettle, 1)])
    assert c.status == status and code in c.error_code


def test_a_rejected_line_shows_the_marketplace_message(walmart_live):
    boots, socks = lines_of(walmart_live, "5801000000033")
    fault_add(walmart_live, "reject_line", line_id=socks.external_id, message="Line cannot be cancelled now")
    c_boots, c_socks = _cancel([(boots, 1), (socks, 1)])
    assert c_socks.status == "rejected" and "Line cannot be cancelled now" in c_socks.error_message
    assert c_socks.error_code.startswith("INVALID_REQUEST_CONTENT")
    assert c_boots.status == "retry_scheduled"  # sent again within its budget, after a backoff
    Cancellation.objects.filter(pk=c_boots.pk).update(next_attempt_at=timezone.now())
    cancellations_sweep()
    c_boots.refresh_from_db()
    assert c_boots.status == "confirmed" and cancel_calls_received(walmart_live) == 2


def test_recorded_calls_hold_no_secret(walmart_live):
    (kettle,) = lines_of(walmart_live, "5801000000011")
    _cancel([(kettle, 1)])
    secrets = [v for k, v in walmart_live.credentials.items() if k in ("private_key", "client_secret")]
    dumps = [f"{c.url}{c.request_headers}{c.request_body}{c.response_headers}{c.response_body}"
             for c in MarketplaceCall.objects.all()]
    assert dumps and not any(s in d for s in secrets for d in dumps)
    for call in MarketplaceCall.objects.exclude(operation="token"):
        for header in ("WM_SEC.AUTH_SIGNATURE", "WM_SEC.ACCESS_TOKEN"):
            assert call.request_headers.get(header) in (None, "***")


def test_a_partly_shipped_line_offers_only_its_open_units(walmart_live):
    from cancellations.sandbox import walmart as walmart_sandbox
    from cancellations.services import CancellationRequestError

    walmart_sandbox.order_add(walmart_live.sandbox_seller, purchase_order_id="5801000000099", lines=[
        {"sku": "WM-CHAIRS", "quantity": 3, "unit_price": "40.00", "status": "Created", "shipped": 1}])
    orders_sync(account=walmart_live)
    (chairs,) = lines_of(walmart_live, "5801000000099")
    assert (chairs.open_quantity, OrderLine.objects.with_in_flight().get(pk=chairs.pk).cancellable_quantity) == (2, 2)
    with pytest.raises(CancellationRequestError, match="At most 2 unit"):
        _cancel([(chairs, 3)])
    (c,) = _cancel([(chairs, None)])  # everything that can still be cancelled
    assert (c.quantity, c.status) == (2, "confirmed")
    chairs.refresh_from_db()
    assert (chairs.cancelled_quantity, chairs.open_quantity) == (2, 0)
    orders_sync(account=walmart_live)
    chairs.refresh_from_db()
    assert (chairs.cancelled_quantity, chairs.open_quantity) == (2, 0)
    with pytest.raises(CancellationRequestError):
        _cancel([(chairs, 1)])  # the shipped unit is refund territory, not cancellation
