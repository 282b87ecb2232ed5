"""The operations dashboard: figures per account, the seller cancellation rate, the admin index panel."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone

from cancellations.models import Cancellation, InventoryAdjustment
from cancellations.selectors.dashboard import account_cancellation_rate, dashboard_summaries
from tests.admin.builders import cancellation_create
from tests.factories import account_create, order_create


def _orders(account, n: int, *, days_ago: int = 1):
    ordered_at = timezone.now() - timedelta(days=days_ago)
    return [order_create(account=account, ordered_at=ordered_at) for _ in range(n)]


def _backdate(cancellation: Cancellation, **delta) -> None:
    Cancellation.objects.filter(pk=cancellation.pk).update(
        created_at=timezone.now() - timedelta(**delta), updated_at=timezone.now() - timedelta(**delta)
    )


@pytest.fixture
def account(db):
    return account_create(marketplace="walmart_ca", name="Walmart CA", options={"auth": "oauth"})


def test_rate_counts_distinct_orders_with_confirmed_or_in_flight_cancellations(account):
    orders = _orders(account, 10)
    _orders(account, 5, days_ago=45)  # placed before the window: not in the denominator
    first_line = orders[0].lines.get()
    cancellation_create(first_line, status="confirmed")
    cancellation_create(first_line, status="pending")  # same order again: counted once
    cancellation_create(orders[1].lines.get(), status="verifying")
    cancellation_create(orders[2].lines.get(), status="failed")  # failed never reached the marketplace
    cancellation_create(orders[3].lines.get(), status="rejected")
    old = cancellation_create(orders[4].lines.get(), status="confirmed")
    _backdate(old, days=31)  # created before the window

    rate = account_cancellation_rate(account)
    assert (rate.orders, rate.cancelled_orders) == (10, 2)
    assert rate.rate == Decimal("0.2000") == rate.rate_after
    assert rate.threshold == Decimal("0.03") and rate.over_threshold


def test_rate_after_adds_only_orders_not_already_counted(account):
    orders = _orders(account, 20)
    cancellation_create(orders[0].lines.get(), status="confirmed")
    rate = account_cancellation_rate(account, extra_order_ids=[orders[0].pk, orders[1].pk, orders[2].pk])
    assert (rate.cancelled_orders, rate.cancelled_orders_after) == (1, 3)
    assert (rate.rate, rate.rate_after) == (Decimal("0.0500"), Decimal("0.1500"))


def test_rate_is_zero_without_orders_in_the_window(account):
    rate = account_cancellation_rate(account, extra_order_ids=[])
    assert (rate.orders, rate.rate, rate.rate_after) == (0, Decimal("0"), Decimal("0"))
    assert not rate.over_threshold


def test_summaries_count_statuses_attention_rate_and_pending_adjustments(account):
    other = account_create(marketplace="mirakl", name="Mirakl")
    orders = _orders(account, 4)
    lines = [o.lines.get() for o in orders]
    cancellation_create(lines[0], status="failed")
    cancellation_create(lines[1], status="rejected")
    stuck = cancellation_create(lines[2], status="verifying")
    _backdate(stuck, minutes=20)
    cancellation_create(lines[3], status="verifying")  # verifying for seconds only: fine
    confirmed = cancellation_create(lines[3], status="confirmed")
    InventoryAdjustment.objects.create(account=account, cancellation=confirmed, sku="X", quantity=1, restock=True)

    summaries = {s.account.pk: s for s in dashboard_summaries()}
    mine = summaries[account.pk]
    assert mine.by_status == {"failed": 1, "rejected": 1, "verifying": 2, "confirmed": 1}
    assert mine.total == 5
    assert mine.needs_attention == 3
    assert mine.pending_adjustments == 1
    assert (mine.rate.orders, mine.rate.cancelled_orders) == (4, 2)  # verifying x2 + confirmed on 2 orders
    assert summaries[other.pk].total == 0 and summaries[other.pk].rate.orders == 0
    assert [row[2] for row in mine.status_rows() if row[0] == "pending"] == [0]


def test_summaries_cost_the_same_queries_for_any_number_of_accounts(db, django_assert_num_queries):
    def populate(n: int) -> None:
        for _ in range(n):
            account = account_create(marketplace="mirakl")
            for order in _orders(account, 2):
                cancellation_create(order.lines.get(), status="failed")

    populate(1)
    with django_assert_num_queries(6):
        dashboard_summaries()
    populate(10)
    with django_assert_num_queries(6):
        assert len(dashboard_summaries()) == 11


def test_admin_index_shows_the_dashboard_with_links_to_filtered_changelists(admin_client, account):
    cancellation_create(_orders(account, 1)[0].lines.get(), status="failed")
    response = admin_client.get(reverse("admin:index"))
    assert response.status_code == 200
    body = response.content.decode()
    changelist = reverse("admin:cancellations_cancellation_changelist")
    assert f'{changelist}?account__id__exact={account.pk}&amp;status__exact=failed' in body
    assert f'{changelist}?account__id__exact={account.pk}&amp;needs_attention=true' in body
    assert "Needs attention: 1" in body
    assert '<div class="app-cancellations module' in body  # the app list is still there

    filtered = admin_client.get(f"{changelist}?account__id__exact={account.pk}&needs_attention=true")
    assert filtered.context["cl"].result_count == 1


def test_index_hides_the_dashboard_from_users_who_cannot_see_cancellations(client, account):
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(user)
    body = client.get(reverse("admin:index")).content.decode()
    assert "cancellations-dashboard" not in body
    user.user_permissions.add(Permission.objects.get(codename="view_cancellation"))
    client.force_login(User.objects.get(pk=user.pk))
    assert "cancellations-dashboard" in client.get(reverse("admin:index")).content.decode()


def test_attention_queue_says_why_and_a_person_takes_an_item_with_a_note(admin_client, account):
    from cancellations.models import AttentionNote

    orders = _orders(account, 3)
    failed = cancellation_create(orders[0].lines.get(), status="failed", error_message="Account problem")
    waiting = cancellation_create(orders[1].lines.get(), status="pending")
    _backdate(waiting, hours=2)  # waiting too long
    cancellation_create(orders[2].lines.get(), status="pending")  # just asked: fine
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert 'id="attention-queue"' in page and "Needs attention (2)" in page
    assert "Failed: Account problem" in page and "Pending for 2 h 0 min" in page

    url = reverse("admin:cancellations_cancellation_attention", args=[failed.pk])
    assert admin_client.get(url).status_code == 405
    answer = admin_client.post(url, {"note": "Asked the seller to renew the API key", "take": "1"})
    assert answer.status_code == 302
    note = AttentionNote.objects.get(cancellation=failed)
    assert (note.note, note.taken_by.username) == ("Asked the seller to renew the API key", "admin")
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert 'value="Asked the seller to renew the API key"' in page and ">admin</td>" in page


def test_a_viewer_cannot_take_queue_items(client, account, django_user_model):
    failed = cancellation_create(_orders(account, 1)[0].lines.get(), status="failed")
    viewer = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_cancellation"))
    client.force_login(viewer)
    assert 'name="note"' not in client.get(reverse("admin:index")).content.decode()
    url = reverse("admin:cancellations_cancellation_attention", args=[failed.pk])
    assert client.post(url, {"note": "x"}).status_code == 403


def test_rate_trend_is_a_chart_against_the_threshold(admin_client, account):
    from cancellations.selectors.dashboard import rate_trends

    orders = _orders(account, 10, days_ago=50)
    old = cancellation_create(orders[0].lines.get(), status="confirmed")
    _backdate(old, days=50)
    trend = rate_trends()[account.pk]
    assert len(trend.points) == 31 and trend.threshold == Decimal("0.03")
    by_age = {(timezone.localdate() - day).days: rate for day, rate in trend.points}
    assert by_age[42] == Decimal("0.1000")  # 1 of the 10 orders placed 50 days ago, seen from 42 days ago
    assert by_age[0] == Decimal("0") and by_age[90] == Decimal("0")
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert '<svg class="rate-trend"' in page and "threshold 3.00 %" in page


def test_an_ambiguous_outcome_is_in_the_queue(admin_client, account):
    from cancellations.selectors.dashboard import attention_queue

    c = cancellation_create(_orders(account, 1)[0].lines.get(), status="needs_attention",
                            error_message="The order read back cannot tell whether the cancel applied")
    (item,) = attention_queue()
    assert item.cancellation == c
    assert item.why == "Needs attention: The order read back cannot tell whether the cancel applied"
