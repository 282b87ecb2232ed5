"""The cancellation workflow against an in-process backend: statuses, retries, verification, batching."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.utils import timezone

from cancellations.marketplaces.base import AccountError, PermanentError, TransientError
from cancellations.models import (
    CallState,
    Cancellation,
    CancellationEvent,
    InventoryAdjustment,
    MarketplaceCall,
    OrderLine,
)
from cancellations.services import (
    CancellationStateError,
    LineRequest,
    call_dispatch,
    cancellation_request,
    cancellation_retry,
    cancellations_sweep,
)
from tests.factories import account_pause_over, line_create, order_create

pytestmark = pytest.mark.django_db


def _lines(order):
    return list(order.lines.order_by("pk"))


def _request(lines, quantity=None, reason="customer_request", **kw):
    return cancellation_request(lines=[LineRequest(line_id=line.pk, quantity=quantity) for line in lines],
                                reason=reason, source="cli", **kw)


def _due_now(qs):
    qs.update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def test_request_is_dispatched_on_commit_and_confirmed(fake, mirakl_order, django_capture_on_commit_callbacks):
    line1, line2 = _lines(mirakl_order)
    with django_capture_on_commit_callbacks(execute=True):
        created = _request([line1, line2], quantity=1)
    assert len(fake.sent) == 1 and len(fake.sent[0]) == 2
    for c in Cancellation.objects.filter(pk__in=[c.pk for c in created]):
        assert c.status == "confirmed" and c.marketplace_reference.startswith("C-") and c.attempts == 1
    line1.refresh_from_db()
    assert line1.cancelled_quantity == 1 and line1.cancellable_quantity == 2
    assert line1.cancelled_amount == Decimal("10.00") and line1.cancelled_taxes == {"GST": "0.50"}
    assert InventoryAdjustment.objects.filter(sku=line1.sku, quantity=1, restock=True).exists()
    assert list(CancellationEvent.objects.filter(cancellation=created[0]).values_list("to_status", flat=True)) == [
        "pending", "sending", "confirmed"]
    call = MarketplaceCall.objects.get(operation="cancel")
    assert call.state == CallState.QUEUED or call.state in (CallState.DONE, CallState.ERROR)
    assert set(call.cancellations.all()) == set(created)


def test_mirakl_amounts_are_priced_and_the_remainder_takes_the_rest(fake, mirakl_order,
                                                                    django_capture_on_commit_callbacks):
    line1, _ = _lines(mirakl_order)
    with django_capture_on_commit_callbacks(execute=True):
        first = _request([line1], quantity=1)[0]
    with django_capture_on_commit_callbacks(execute=True):
        second = _request([line1])[0]  # everything that remains
    assert (first.amount, first.shipping_amount, first.taxes) == (Decimal("10.00"), Decimal("1.00"),
                                                                  [{"code": "GST", "amount": "0.50"}])
    assert second.quantity == 2
    assert (second.amount, second.shipping_amount) == (Decimal("20.00"), Decimal("2.00"))
    assert second.taxes == [{"code": "GST", "amount": "1.00"}]
    sent = fake.sent[1][0]
    assert sent.amount == Decimal("20.00") and sent.previously_cancelled == 1


def test_out_of_stock_does_not_restock(fake, mirakl_order, django_capture_on_commit_callbacks):
    line1, _ = _lines(mirakl_order)
    with django_capture_on_commit_callbacks(execute=True):
        _request([line1], quantity=1, reason="35")
    adjustment = InventoryAdjustment.objects.get()
    assert adjustment.restock is False and adjustment.cancellation.reason == "out_of_stock"


def test_same_request_id_creates_nothing_new(fake, mirakl_order, django_capture_on_commit_callbacks):
    import uuid

    line1, _ = _lines(mirakl_order)
    rid = uuid.uuid4()
    with django_capture_on_commit_callbacks(execute=True):
        first = _request([line1], quantity=1, request_id=rid)
        again = _request([line1], quantity=1, request_id=rid)
    assert [c.pk for c in first] == [c.pk for c in again]
    assert Cancellation.objects.count() == 1 and len(fake.sent) == 1


def test_mirakl_lines_of_several_orders_share_one_call_up_to_100(fake, mirakl_account,
                                                                 django_capture_on_commit_callbacks):
    lines = []
    for n in range(3):
        order = order_create(account=mirakl_account, external_id=f"BIG-{n}", lines=50, quantity=1)
        lines += _lines(order)
    with django_capture_on_commit_callbacks(execute=True):
        _request(lines)
    assert [len(batch) for batch in fake.sent] == [100, 50]
    assert MarketplaceCall.objects.filter(operation="cancel").count() == 2
    assert Cancellation.objects.filter(status="confirmed").count() == 150


def test_per_order_backend_sends_one_call_per_order(fake, walmart_account, django_capture_on_commit_callbacks):
    fake.reset(per_order=True)
    lines = []
    for n in range(3):
        lines += _lines(order_create(account=walmart_account, external_id=f"PO-{n}", lines=2))
    with django_capture_on_commit_callbacks(execute=True):
        _request(lines, reason="CANCEL_BY_SELLER")
    assert sorted({line.order_id for line in batch} for batch in fake.sent) == [{"PO-0"}, {"PO-1"}, {"PO-2"}]
    assert all(len(batch) == 2 for batch in fake.sent)


def test_query_count_does_not_grow_with_lines(fake, mirakl_account, django_capture_on_commit_callbacks,
                                              django_assert_num_queries):
    small = _lines(order_create(account=mirakl_account, external_id="S", lines=2))
    big = []
    for n in range(4):
        big += _lines(order_create(account=mirakl_account, external_id=f"B{n}", lines=50))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for lines in (small, big):
        with CaptureQueriesContext(connection) as ctx, django_capture_on_commit_callbacks(execute=False):
            _request(lines)
        counts.append(len(ctx.captured_queries))
    assert len(big) == 200 and counts[0] == counts[1], counts


def test_rate_limit_schedules_a_retry_honouring_retry_after(fake, mirakl_order, django_capture_on_commit_callbacks):
    line1, _ = _lines(mirakl_order)
    fake.script = [TransientError("slow down", code="rate_limited", status_code=429, retry_after=120)]
    with django_capture_on_commit_callbacks(execute=True):
        c = _request([line1], quantity=1)[0]
    c.refresh_from_db()
    assert c.status == "retry_scheduled" and c.error_code == "rate_limited"
    assert c.next_attempt_at >= timezone.now() + timedelta(seconds=110)
    assert cancellations_sweep()["sent"] == 0  # not due yet
    _due_now(Cancellation.objects.filter(pk=c.pk))
    report = cancellations_sweep()
    assert report["retries_due"] == 1 and report["sent"] == 0  # due, but the whole account is paused
    assert len(fake.sent) == 1
    account_pause_over(c.account_id)
    report = cancellations_sweep()
    c.refresh_from_db()
    assert report["sent"] == 1
    assert c.status == "confirmed" and c.attempts == 2 and len(fake.sent) == 2


def test_gives_up_after_max_attempts(fake, mirakl_order, settings, django_capture_on_commit_callbacks):
    settings.CANCELLATION_MAX_ATTEMPTS = 2
    line1, _ = _lines(mirakl_order)
    fake.script = [TransientError("busy", code="rate_limited", retry_after=1)] * 2
    with django_capture_on_commit_callbacks(execute=True):
        c = _request([line1], quantity=1)[0]
    _due_now(Cancellation.objects.filter(pk=c.pk))
    cancellations_sweep()
    c.refresh_from_db()
    assert c.status == "failed" and c.attempts == 2 and "busy" in c.error_message


def test_timeout_after_apply_is_confirmed_without_a_second_send(fake, mirakl_order,
                                                                django_capture_on_commit_callbacks):
    line1, _ = _lines(mirakl_order)
    timeout = TransientError("no answer", code="timeout", outcome_unknown=True)
    timeout.applied = True
    fake.script = [timeout]
    with django_capture_on_commit_callbacks(execute=True):
        c = _request([line1], quantity=2)[0]
    c.refresh_from_db()
    assert c.status == "confirmed" and len(fake.sent) == 1
    assert c.events.filter(to_status="verifying").exists()
    line1.refresh_from_db()
    assert line1.cancelled_quantity == 2


def test_timeout_before_apply_is_sent_again_after_reading_back(fake, mirakl_order,
                                                               django_capture_on_commit_callbacks):
    line1, _ = _lines(mirakl_order)
    fake.script = [TransientError("500", code="http_500", status_code=500, outcome_unknown=True)]
    with django_capture_on_commit_callbacks(execute=True):
        c = _request([line1], quantity=1)[0]
    c.refresh_from_db()
    # verify ran on commit and found nothing applied: a retry with backoff, sent by the sweeper when due
    assert c.status == "retry_scheduled" and c.error_code == "not_applied" and len(fake.sent) == 1
    _due_now(Cancellation.objects.filter(pk=c.pk))
    cancellations_sweep()
    c.refresh_from_db()
    assert c.status == "confirmed" and len(fake.sent) == 2
    assert list(c.events.values_list("to_status", flat=True)) == [
        "pending", "sending", "verifying", "retry_scheduled", "pending", "sending", "confirmed"]


def test_rejection_naming_one_line_rejects_only_that_line(fake, mirakl_order, django_capture_on_commit_callbacks):
    line1, line2 = _lines(mirakl_order)
    fake.script = [PermanentError("bad", code="INVALID", line_errors={"M-1-2": ("ALREADY_SHIPPED", "Line shipped")})]
    with django_capture_on_commit_callbacks(execute=True):
        c1, c2 = _request([line1, line2], quantity=1)
    c1.refresh_from_db()
    assert c1.status == "retry_scheduled" and c1.next_attempt_at > timezone.now()  # backs off, no storm
    _due_now(Cancellation.objects.filter(pk=c1.pk))
    cancellations_sweep()
    c1.refresh_from_db()
    c2.refresh_from_db()
    assert (c2.status, c2.error_code, c2.error_message) == ("rejected", "ALREADY_SHIPPED", "Line shipped")
    assert c1.status == "confirmed" and [len(b) for b in fake.sent] == [2, 1]


def test_whole_batch_rejection_and_explicit_retry(fake, mirakl_order, django_capture_on_commit_callbacks):
    line1, _ = _lines(mirakl_order)
    fake.script = [PermanentError("Order is not in a cancellable state", code="http_400", status_code=400)]
    with django_capture_on_commit_callbacks(execute=True):
        c = _request([line1], quantity=1)[0]
    c.refresh_from_db()
    assert c.status == "rejected" and c.error_message == "Order is not in a cancellable state"
    assert OrderLine.objects.with_in_flight().get(pk=line1.pk).cancellable_quantity == 3
    with django_capture_on_commit_callbacks(execute=True):
        cancellation_retry(cancellation=c, source="cli")
    c.refresh_from_db()
    assert c.status == "confirmed" and c.error_message == ""
    with pytest.raises(CancellationStateError):
        cancellation_retry(cancellation=c, source="cli")


def test_account_error_fails_and_flags_the_account(fake, mirakl_order, django_capture_on_commit_callbacks):
    line1, _ = _lines(mirakl_order)
    fake.script = [AccountError("Unauthorized", code="http_401", status_code=401)]
    with django_capture_on_commit_callbacks(execute=True):
        c = _request([line1], quantity=1)[0]
    c.refresh_from_db()
    mirakl_order.account.refresh_from_db()
    assert c.status == "failed" and "Unauthorized" in c.error_message
    assert "Unauthorized" in mirakl_order.account.last_error


def test_a_call_is_claimed_once(fake, mirakl_order, django_capture_on_commit_callbacks):
    line1, _ = _lines(mirakl_order)
    with django_capture_on_commit_callbacks(execute=False):
        _request([line1], quantity=1)
    call = MarketplaceCall.objects.get(operation="cancel", state=CallState.QUEUED)
    assert call_dispatch(call_id=call.pk) == "sent"
    assert call_dispatch(call_id=call.pk) == "skipped"
    assert len(fake.sent) == 1


@pytest.mark.parametrize("call_state", [CallState.SENDING, CallState.DONE],
                         ids=["crash-after-send", "crash-after-answer-before-record"])
def test_a_crash_mid_send_leaves_a_record_the_sweeper_completes(fake, mirakl_order, call_state,
                                                                django_capture_on_commit_callbacks):
    """A worker died after claiming: either the call has no answer, or the answer was stored but the result
    was not. Either way the cancellation sits in 'sending'; the sweeper reads back instead of resending."""
    line1, _ = _lines(mirakl_order)
    with django_capture_on_commit_callbacks(execute=False):
        c = _request([line1], quantity=1)[0]
    an_hour_ago = timezone.now() - timedelta(hours=1)
    MarketplaceCall.objects.filter(operation="cancel").update(state=call_state, claimed_at=an_hour_ago)
    Cancellation.objects.filter(pk=c.pk).update(status="sending", attempts=1, baseline_cancelled_quantity=0,
                                                updated_at=an_hour_ago)
    fake.remote_cancelled["M-1-1"] = 1  # the marketplace had applied it
    report = cancellations_sweep()
    c.refresh_from_db()
    assert report["stale_sends"] == 1 and c.status == "confirmed" and fake.sent == []


def test_second_cancellation_of_a_busy_line_waits_for_the_first(fake, mirakl_order,
                                                                django_capture_on_commit_callbacks):
    line1, _ = _lines(mirakl_order)
    with django_capture_on_commit_callbacks(execute=False):
        _request([line1], quantity=1)
        _request([line1], quantity=1)
    assert MarketplaceCall.objects.filter(state=CallState.QUEUED).count() == 1
    with django_capture_on_commit_callbacks(execute=True):  # the follow-up call is enqueued on commit
        cancellations_sweep()
    assert Cancellation.objects.filter(status="confirmed").count() == 2
    assert [len(b) for b in fake.sent] == [1, 1]
    line1.refresh_from_db()
    assert line1.cancelled_quantity == 2


def test_shipped_line_is_refused(fake, mirakl_account):
    order = order_create(account=mirakl_account, external_id="SHIP", lines=0)
    line = line_create(order=order, external_id="SHIP-1", status="SHIPPED")
    from cancellations.services import CancellationRequestError

    with pytest.raises(CancellationRequestError) as err:
        _request([line], quantity=1)
    assert "SHIPPED" in err.value.errors[0].message and Cancellation.objects.count() == 0


def test_mirakl_batches_split_by_tax_mode(settings, mirakl_account, django_capture_on_commit_callbacks):
    """Mirakl's own backend decides the batches: one OR30 call per account and tax mode."""
    from unittest import mock

    settings.MARKETPLACE_BACKENDS = {"mirakl": "cancellations.marketplaces.mirakl.backend.MiraklBackend"}
    excluded = order_create(account=mirakl_account, external_id="EX", lines=2, tax_mode="TAX_EXCLUDED")
    included = order_create(account=mirakl_account, external_id="IN", lines=1, tax_mode="TAX_INCLUDED")
    with mock.patch("cancellations.services.enqueue.calls_enqueue"):
        _request(_lines(excluded) + _lines(included), quantity=1)
    calls = MarketplaceCall.objects.filter(operation="cancel").order_by("batch_key")
    assert [(c.batch_key, c.cancellations.count()) for c in calls] == [
        ("OR30 TAX_EXCLUDED", 2), ("OR30 TAX_INCLUDED", 1)]


def test_a_marketplace_that_keeps_failing_ends_failed_after_the_maximum_attempts(
        fake, mirakl_order, settings, django_capture_on_commit_callbacks):
    """5xx every time: each attempt is read back, then retried with backoff; no resend storm, then failed."""
    settings.CANCELLATION_MAX_ATTEMPTS = 3
    line1, _ = _lines(mirakl_order)
    fake.script = [TransientError("down", code="http_503", status_code=503, outcome_unknown=True)] * 10
    with django_capture_on_commit_callbacks(execute=True):
        c = _request([line1], quantity=1)[0]
    for _ in range(5):
        _due_now(Cancellation.objects.filter(pk=c.pk, status="retry_scheduled"))
        with django_capture_on_commit_callbacks(execute=True):
            cancellations_sweep()
    c.refresh_from_db()
    assert c.status == "failed" and c.attempts == 3 and len(fake.sent) == 3


def test_reading_back_waits_for_the_grace_period(fake, mirakl_order, settings, django_capture_on_commit_callbacks):
    settings.CANCELLATION_VERIFY_DELAY_SECONDS = 60
    line1, _ = _lines(mirakl_order)
    timeout = TransientError("no answer", code="timeout", outcome_unknown=True)
    timeout.applied = True
    fake.script = [timeout]
    with django_capture_on_commit_callbacks(execute=True):
        c = _request([line1], quantity=1)[0]
    assert cancellations_sweep()["verified"] == 0  # too early: the marketplace may still be working on it
    c.refresh_from_db()
    assert c.status == "verifying" and c.next_attempt_at > timezone.now() + timedelta(seconds=50)
    _due_now(Cancellation.objects.filter(pk=c.pk))
    assert cancellations_sweep()["verified"] == 1
    c.refresh_from_db()
    assert c.status == "confirmed" and len(fake.sent) == 1


def test_a_line_missing_from_a_success_answer_is_read_back_not_rejected(fake, mirakl_order,
                                                                       django_capture_on_commit_callbacks):
    from cancellations.marketplaces.base import CancelResult, LineOutcome, LineResult

    line1, line2 = _lines(mirakl_order)

    def only_first_line_answered(lines):
        fake._apply(lines)  # the marketplace applied both but its answer names only the first
        first = lines[0]
        return CancelResult(lines=(LineResult(ref=first.ref, line_id=first.line_id, outcome=LineOutcome.CONFIRMED,
                                              marketplace_reference="C-1"),))
    fake.script = [only_first_line_answered]
    with django_capture_on_commit_callbacks(execute=True):
        c1, c2 = _request([line1, line2], quantity=1)
    c1.refresh_from_db()
    c2.refresh_from_db()
    assert (c1.status, c2.status) == ("confirmed", "confirmed") and len(fake.sent) == 1
    assert "verifying" in c2.events.values_list("to_status", flat=True)


def test_retry_gets_a_fresh_budget_and_fresh_amounts(fake, mirakl_account, settings,
                                                     django_capture_on_commit_callbacks):
    settings.CANCELLATION_MAX_ATTEMPTS = 1
    order = order_create(account=mirakl_account, external_id="R", lines=0)
    line = line_create(order=order, external_id="R-1", quantity=3, price=Decimal("10.00"))
    fake.script = [TransientError("busy", code="http_429", retry_after=1)]
    with django_capture_on_commit_callbacks(execute=True):
        c = _request([line], quantity=1)[0]
    c.refresh_from_db()
    assert (c.status, c.attempts, c.amount) == ("failed", 1, Decimal("3.33"))
    for _ in range(2):  # the two other units go through meanwhile: 3.33 each
        with django_capture_on_commit_callbacks(execute=True):
            _request([line], quantity=1)
    with django_capture_on_commit_callbacks(execute=True):
        cancellation_retry(cancellation=c, source="cli")
    c.refresh_from_db()
    # Sent again despite the used-up budget, now priced as the remainder so the line sums to 10.00.
    assert (c.status, c.attempts, c.amount) == ("confirmed", 1, Decimal("3.34"))
    assert len(fake.sent) == 4


def test_retry_is_refused_when_nothing_is_left_to_cancel(fake, mirakl_order, django_capture_on_commit_callbacks):
    line1, _ = _lines(mirakl_order)
    fake.script = [PermanentError("hold", code="HOLD")]
    with django_capture_on_commit_callbacks(execute=True):
        c = _request([line1], quantity=1)[0]
    with django_capture_on_commit_callbacks(execute=True):
        _request([line1])  # everything left, including the unit the rejected one asked for
    with pytest.raises(CancellationStateError, match="Nothing left to cancel|CANCELED on the marketplace"):
        cancellation_retry(cancellation=c, source="cli")


def test_retry_of_an_unverified_outcome_reads_the_order_back_first(fake, mirakl_order,
                                                                   django_capture_on_commit_callbacks):
    line1, _ = _lines(mirakl_order)
    with django_capture_on_commit_callbacks(execute=False):
        c = _request([line1], quantity=1)[0]
    Cancellation.objects.filter(pk=c.pk).update(status="failed", error_code="outcome_unverified", attempts=5,
                                                baseline_cancelled_quantity=0)
    fake.remote_cancelled["M-1-1"] = 1  # it had in fact been applied
    with django_capture_on_commit_callbacks(execute=True):
        cancellation_retry(cancellation=c, source="cli")
    c.refresh_from_db()
    assert c.status == "confirmed" and fake.sent == []


def test_periodic_sweep_task_enqueues_calls_left_queued(fake, mirakl_order, django_capture_on_commit_callbacks):
    from cancellations.tasks import cancellations_sweep_task

    line1, _ = _lines(mirakl_order)
    with django_capture_on_commit_callbacks(execute=False):  # the on-commit enqueue was lost
        c = _request([line1], quantity=1)[0]
    assert cancellations_sweep_task()["enqueued"] == 0  # too fresh: its own enqueue may still be on the way
    MarketplaceCall.objects.update(created_at=timezone.now() - timedelta(minutes=1))
    assert cancellations_sweep_task()["enqueued"] == 1
    c.refresh_from_db()
    assert c.status == "confirmed" and len(fake.sent) == 1


def test_the_periodic_sweep_leaves_published_calls_alone_until_their_message_is_long_overdue(
        fake, mirakl_order, django_capture_on_commit_callbacks, settings):
    """A long queue in the broker (or a pace's wait) is not published again at every sweep: only a lost one."""
    from cancellations.services.enqueue import calls_enqueue
    from cancellations.tasks import cancellations_sweep_task

    line1, _ = _lines(mirakl_order)
    with django_capture_on_commit_callbacks(execute=False):
        _request([line1], quantity=1)
    call = MarketplaceCall.objects.get(operation="cancel")
    with mock.patch("cancellations.services.enqueue.task_submit") as published:  # the message waits in a queue
        calls_enqueue([call.pk])
        MarketplaceCall.objects.update(created_at=timezone.now() - timedelta(minutes=1))
        assert cancellations_sweep_task()["enqueued"] == 0
        MarketplaceCall.objects.update(dispatch_expected_at=timezone.now() - timedelta(
            seconds=settings.CALL_REDISPATCH_AFTER_SECONDS + 1))
        assert cancellations_sweep_task()["enqueued"] == 1  # long overdue: taken as lost, published again
        assert cancellations_sweep_task()["enqueued"] == 0  # ... once
    assert published.call_count == 2


def test_the_other_waiting_lines_of_accepting_requests_are_read_in_one_query(mirakl_account,
                                                                             django_assert_num_queries):
    """Planning or sending a call for many orders whose requests accept their other lines: one read, not one each."""
    from cancellations.services.call_planning import line_cancels_from

    orders = [order_create(account=mirakl_account, lines=2) for _ in range(3)]
    OrderLine.objects.filter(order__in=orders, external_id__endswith="-2").update(status="WAITING_ACCEPTANCE")
    cancellations = [
        Cancellation(line=line, account=mirakl_account, quantity=1, reason_code="34", accept_other_lines=True)
        for line in OrderLine.objects.select_related("order__account").filter(order__in=orders,
                                                                              external_id__endswith="-1")
    ]
    with django_assert_num_queries(1):
        line_cancels = line_cancels_from(cancellations)
    assert [lc.accept_others for lc in line_cancels] == [(f"{o.external_id}-2",) for o in orders]
