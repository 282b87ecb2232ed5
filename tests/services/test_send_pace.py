"""Dispatch keeps each account's pace: a 429 holds back the account's other calls, not other accounts'."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from cancellations.marketplaces.base import TransientError
from cancellations.models import CallState, Cancellation, MarketplaceAccount, MarketplaceCall
from cancellations.pacing import account_limits, account_pace, account_paused_for, account_throttled
from cancellations.services import (
    LineRequest,
    call_dispatch,
    cancellation_request,
    cancellations_verify,
    orders_sync,
)
from tests.factories import account_pause_over, order_create
from tests.fake_backend import FakeBackend

pytestmark = pytest.mark.django_db


def _request(orders, reason):
    return cancellation_request(lines=[LineRequest(line_id=line.pk, quantity=1) for o in orders
                                       for line in o.lines.all()], reason=reason, source="cli")


def test_a_429_pauses_the_account_and_its_other_calls_wait(fake, walmart_account, mirakl_order,
                                                            django_capture_on_commit_callbacks):
    fake.per_order = True
    orders = [order_create(account=walmart_account, lines=1) for _ in range(3)]
    fake.script = [TransientError("slow down", code="http_429", status_code=429, retry_after=60)]
    with django_capture_on_commit_callbacks(execute=True):
        _request(orders, "CANCEL_BY_SELLER")
    assert len(fake.sent) == 1  # the first call got the 429; the other two were held back, not sent
    held = MarketplaceCall.objects.filter(account=walmart_account, operation="cancel", state=CallState.QUEUED)
    assert held.count() == 2
    view = account_pace(walmart_account.pk, account_limits(cap=None, rate=None))
    assert view.paused_until is not None and view.throttled == 1 and view.sending == 0

    with django_capture_on_commit_callbacks(execute=True):  # another account is not held back
        _request([mirakl_order], "34")
    assert len(fake.sent) == 2

    assert call_dispatch(call_id=held.first().pk) == "deferred"
    account_pause_over(walmart_account.pk)
    assert [call_dispatch(call_id=pk) for pk in held.values_list("pk", flat=True)] == ["sent", "sent"]
    assert len(fake.sent) == 4


def test_an_accounts_own_cap_and_rate_apply(fake, walmart_account):
    MarketplaceAccount.objects.filter(pk=walmart_account.pk).update(max_concurrent_sends=2,
                                                                    rate_limit_per_second="2.50")
    walmart_account.refresh_from_db()
    limits = account_limits(cap=walmart_account.max_concurrent_sends, rate=walmart_account.rate_limit_per_second)
    assert limits.cap == 2 and limits.rate == pytest.approx(2.5 * 0.95)  # a margin below the account's limit
    assert account_limits(cap=None, rate=None).cap == 16


def test_the_account_page_shows_the_pace_and_the_pause(admin_client, fake, walmart_account,
                                                       django_capture_on_commit_callbacks):
    fake.per_order = True
    fake.script = [TransientError("slow down", code="http_429", status_code=429, retry_after=60)]
    with django_capture_on_commit_callbacks(execute=True):
        _request([order_create(account=walmart_account, lines=1)], "CANCEL_BY_SELLER")
    page = admin_client.get(f"/admin/cancellations/marketplaceaccount/{walmart_account.pk}/change/")
    text = page.content.decode()
    assert page.status_code == 200 and "Sending pace" in text
    assert "0 of 16 sends in flight" in text and "paused until" in text and "1 answer(s) 429 lately" in text
    assert 'name="rate_limit_per_second"' in text and 'name="max_concurrent_sends"' in text


def _verifying(fake, account, settings, django_capture_on_commit_callbacks):
    """A cancellation whose send timed out: its outcome is read back once the grace period is over."""
    settings.CANCELLATION_VERIFY_DELAY_SECONDS = 60
    fake.script = [TransientError("no answer", code="timeout", outcome_unknown=True)]
    with django_capture_on_commit_callbacks(execute=True):
        c = _request([order_create(account=account, lines=1)], "CANCEL_BY_SELLER")[0]
    Cancellation.objects.filter(pk=c.pk).update(next_attempt_at=timezone.now())
    c.refresh_from_db()
    assert c.status == "verifying"
    return c


def test_a_429_on_a_read_back_pauses_the_accounts_sends(fake, walmart_account, settings, monkeypatch,
                                                         django_capture_on_commit_callbacks):
    c = _verifying(fake, walmart_account, settings, django_capture_on_commit_callbacks)

    def throttled(self, order_id):
        raise TransientError("slow down", code="http_429", status_code=429, retry_after=60)

    monkeypatch.setattr(FakeBackend, "get_order", throttled)
    assert cancellations_verify(cancellation_ids=[c.pk]) == {"unverified": 1}
    c.refresh_from_db()
    assert c.status == "verifying" and c.next_attempt_at > timezone.now() + timedelta(seconds=50)
    view = account_pace(walmart_account.pk, account_limits(cap=None, rate=None))
    assert view.paused_until is not None and view.throttled == 1
    fake.script = []
    with django_capture_on_commit_callbacks(execute=True):  # the account's sends wait for the Retry-After too
        _request([order_create(account=walmart_account, lines=1)], "CANCEL_BY_SELLER")
    assert len(fake.sent) == 1  # only the first send, before the 429


def test_a_paused_accounts_read_backs_wait_for_the_pause(fake, walmart_account, settings, monkeypatch,
                                                          django_capture_on_commit_callbacks):
    c = _verifying(fake, walmart_account, settings, django_capture_on_commit_callbacks)
    reads = []
    real_get_order = FakeBackend.get_order
    monkeypatch.setattr(FakeBackend, "get_order", lambda self, order_id: reads.append(order_id) or
                        real_get_order(self, order_id))
    account_throttled(walmart_account.pk, retry_after=30)  # a 429 elsewhere (a send, a sync)
    assert cancellations_verify(cancellation_ids=[c.pk]) == {"paused": 1}
    c.refresh_from_db()
    assert reads == [] and c.status == "verifying"
    assert timezone.now() + timedelta(seconds=25) < c.next_attempt_at < timezone.now() + timedelta(seconds=31)
    account_pause_over(walmart_account.pk)
    Cancellation.objects.filter(pk=c.pk).update(next_attempt_at=timezone.now())
    assert cancellations_verify(cancellation_ids=[c.pk]) == {"not_applied": 1} and len(reads) == 1


def test_a_429_on_a_sync_pauses_the_accounts_sends(fake, walmart_account, monkeypatch):
    def throttled(self):
        raise TransientError("slow down", code="http_429", status_code=429, retry_after=45)

    monkeypatch.setattr(FakeBackend, "list_reasons", throttled)
    with pytest.raises(TransientError):
        orders_sync(account=walmart_account)
    assert 40 < account_paused_for(walmart_account.pk) <= 45
