"""Issue 8 §7: server-issued request ids bound to user and lines; call bodies behind a permission; retention."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from cancellations.api.idempotency import request_id_for
from cancellations.models import CallState, Cancellation, MarketplaceCall
from cancellations.services.call_retention import call_bodies_blank
from tests.admin.test_cancel_action import CONFIRM_URL, confirm_post, confirm_url, page_request_id
from tests.admin.test_cancel_action import lines as lines  # noqa: PLC0414  (the fixture)
from tests.api.conftest import user_with
from tests.factories import account_create

pytestmark = pytest.mark.django_db
CUSTOMER = "Jane Customer, 12 Private Road, 555-0100"


@pytest.fixture
def clerk(db):
    return user_with("clerk", "request_cancellation", "view_orderline", "view_cancellation")


@pytest.fixture
def other_clerk(db):
    return user_with("other", "request_cancellation", "view_orderline", "view_cancellation")


def _login(client, user):
    user.is_staff = True
    user.save()
    client.force_login(user)
    return client


def test_a_client_chosen_request_id_is_refused(client, clerk, lines):
    """Before: any UUID was taken, e.g. the one another user's API Idempotency-Key will derive."""
    _login(client, clerk)
    a = lines["a"]
    foreign = request_id_for(clerk, "their-next-key")
    response = client.post(reverse(CONFIRM_URL), confirm_post([a], str(foreign), **{f"quantity-{a.pk}": "1"}))
    assert response.status_code == 400
    assert not Cancellation.objects.exists()


def test_a_token_issued_to_another_user_is_refused(client, clerk, other_clerk, lines):
    a = lines["a"]
    token = page_request_id(_login(client, clerk).get(confirm_url(a)))
    _login(client, other_clerk)
    response = client.post(reverse(CONFIRM_URL), confirm_post([a], token, **{f"quantity-{a.pk}": "1"}))
    assert response.status_code == 400 and not Cancellation.objects.exists()


def test_a_token_reused_with_other_lines_is_refused_not_silently_narrowed(client, clerk, lines):
    a, b = lines["a"], lines["b"]
    _login(client, clerk)
    token = page_request_id(client.get(confirm_url(a)))
    client.post(reverse(CONFIRM_URL), confirm_post([a], token, **{f"quantity-{a.pk}": "1"}))
    assert Cancellation.objects.count() == 1
    response = client.post(reverse(CONFIRM_URL), confirm_post([a, b], token, **{
        f"quantity-{a.pk}": "1", f"quantity-{b.pk}": "1"}))
    assert response.status_code == 400 and Cancellation.objects.count() == 1


def test_admin_and_api_request_ids_live_in_separate_namespaces(client, clerk, lines):
    a = lines["a"]
    _login(client, clerk)
    token = page_request_id(client.get(confirm_url(a)))
    client.post(reverse(CONFIRM_URL), confirm_post([a], token, **{f"quantity-{a.pk}": "1"}))
    admin_id = Cancellation.objects.get().request_id
    assert admin_id != request_id_for(clerk, token) and admin_id.version == 5
    assert str(admin_id) not in token  # the client never sees the id it would have to forge


# ----------------------------------------------------------------------------------- call bodies


@pytest.fixture
def call(db):
    account = account_create(marketplace="mirakl")
    return MarketplaceCall.objects.create(
        account=account, operation="get_order", method="GET", url="https://m.example.com/api/orders",
        request_headers={"Accept": "application/json"}, response_headers={"X-Echo": CUSTOMER},
        response_body=f'{{"customer": "{CUSTOMER}"}}', request_body="{}", status_code=200, duration_ms=12,
        correlation_id="corr-1")


def test_the_api_gives_call_metadata_without_bodies(api, call):
    from tests.factories import line_create, order_create

    line = line_create(order=order_create(account=call.account, lines=0), external_id="L-1")
    c = Cancellation.objects.create(line=line, account=call.account, quantity=1, reason_code="34", source="api")
    call.cancellations.add(c)
    user = user_with("viewer", "view_cancellation", "view_call_bodies")
    response = api(user).get(f"/api/cancellations/{c.pk}/")
    assert response.status_code == 200
    (shown,) = response.json()["calls"]
    assert {"operation", "method", "url", "status_code", "duration_ms", "correlation_id", "error"} <= set(shown)
    assert not {"request_body", "response_body", "request_headers", "response_headers"} & set(shown)
    assert CUSTOMER not in response.content.decode()


@pytest.mark.parametrize(("perms", "shown"), [(("view_marketplacecall",), False),
                                               (("view_marketplacecall", "view_call_bodies"), True)])
def test_admin_call_page_shows_bodies_only_with_the_permission(client, call, perms, shown):
    user = user_with("auditor", *perms)
    _login(client, user)
    page = client.get(reverse("admin:cancellations_marketplacecall_change", args=[call.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "corr-1" in body
    assert ("Jane Customer" in body) is shown


def test_call_bodies_older_than_the_retention_are_blanked_keeping_metadata(call, settings):
    settings.CALL_BODY_RETENTION_DAYS = 90
    recent = MarketplaceCall.objects.create(account=call.account, operation="get_order", response_body=CUSTOMER)
    queued = MarketplaceCall.objects.create(account=call.account, operation="cancel", state=CallState.QUEUED,
                                            request_body="queued body")
    old = timezone.now() - timedelta(days=91)
    MarketplaceCall.objects.filter(pk__in=[call.pk, queued.pk]).update(created_at=old)
    assert call_bodies_blank() == 1
    call.refresh_from_db()
    assert (call.request_body, call.response_body, call.request_headers, call.response_headers) == ("", "", {}, {})
    assert (call.status_code, call.url, call.correlation_id, call.duration_ms) == (
        200, "https://m.example.com/api/orders", "corr-1", 12)
    assert MarketplaceCall.objects.get(pk=recent.pk).response_body == CUSTOMER
    assert MarketplaceCall.objects.get(pk=queued.pk).request_body == "queued body"
    assert call_bodies_blank() == 0


def test_the_command_blanks_with_its_own_age(call, capsys):
    MarketplaceCall.objects.filter(pk=call.pk).update(created_at=timezone.now() - timedelta(days=8))
    call_command("blank_call_bodies", "--days", "7")
    assert "Blanked the bodies of 1 call(s)." in capsys.readouterr().out
    assert MarketplaceCall.objects.get(pk=call.pk).response_body == ""


def test_the_retention_runs_daily_in_beat(settings):
    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values()
                 if e["task"] == "cancellations.tasks.call_bodies_blank_task")
    assert entry["schedule"] == 24 * 3600


def test_the_service_refuses_a_request_id_of_another_user_or_other_lines(fake, mirakl_order, requester, viewer):
    from cancellations.services import CancellationRequestError, LineRequest, cancellation_request

    first, second = mirakl_order.lines.order_by("pk")
    rid = uuid.uuid4()
    created = cancellation_request(lines=[LineRequest(line_id=first.pk, quantity=1)], reason="34",
                                   user=requester, source="api", request_id=rid)
    again = cancellation_request(lines=[LineRequest(line_id=first.pk, quantity=1)], reason="34",
                                 user=requester, source="api", request_id=rid)
    assert [c.pk for c in again] == [c.pk for c in created]  # a double submit replays
    for user, line in ((viewer, first), (requester, second)):
        with pytest.raises(CancellationRequestError) as caught:
            cancellation_request(lines=[LineRequest(line_id=line.pk, quantity=1)], reason="34", user=user,
                                 source="api", request_id=rid)
        assert caught.value.errors[0].field == "request_id"
    assert Cancellation.objects.count() == 1
