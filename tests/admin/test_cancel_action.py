"""The "Cancel on marketplace" action and its confirmation page."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from cancellations.models import Cancellation, MarketplaceReason
from tests.factories import account_create, line_create, order_create

CONFIRM_URL = "admin:cancellations_orderline_cancel"


@pytest.fixture
def lines(db):
    """Two cancellable Mirakl lines (2 x 10.00, shipping 5.00, GST 1.00), a shipped one, a Walmart line."""
    mirakl = account_create(marketplace="mirakl", name="Mirakl shop")
    MarketplaceReason.objects.create(account=mirakl, code="34", label="Out of stock", normalised="out_of_stock")
    MarketplaceReason.objects.create(account=mirakl, code="21", label="Customer asked", normalised="customer_request")
    order = order_create(account=mirakl, external_id="MK-1", lines=0, ordered_at=timezone.now())
    taxes = [{"code": "GST", "amount": "1.00"}]
    a = line_create(order=order, external_id="MK-1-1", quantity=2, shipping_price="5.00", taxes=taxes)
    b = line_create(order=order, external_id="MK-1-2", quantity=2, shipping_price="5.00", taxes=taxes)
    shipped = line_create(order=order, external_id="MK-1-3", quantity=1, status="SHIPPED")
    walmart = account_create(marketplace="walmart_ca", name="Walmart CA", options={"auth": "oauth"})
    w = line_create(order=order_create(account=walmart, external_id="PO-9", lines=0), external_id="1", quantity=3)
    return {"a": a, "b": b, "shipped": shipped, "walmart": w}


def confirm_url(*lines) -> str:
    return f"{reverse(CONFIRM_URL)}?ids={','.join(str(line.pk) for line in lines)}"


def page_request_id(response) -> str:
    match = re.search(r'name="request_id" id="id_request_id" value="([^"]+)"', response.content.decode())
    assert match, "the confirmation page carries a request_id"
    return match.group(1)


def confirm_post(lines, request_id: str, **fields) -> dict:
    data = {"ids": ",".join(str(line.pk) for line in lines), "request_id": request_id, "reason": "out_of_stock",
            "_confirm": "1"}
    data.update(fields)
    return data


def test_line_action_redirects_to_the_confirmation_page(admin_client, lines):
    selected = [lines["a"].pk, lines["walmart"].pk]
    response = admin_client.post(reverse("admin:cancellations_orderline_changelist"),
                                 {"action": "cancel_on_marketplace", "_selected_action": selected})
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert target.path == reverse(CONFIRM_URL)
    assert sorted(int(i) for i in parse_qs(target.query)["ids"][0].split(",")) == sorted(selected)


def test_order_action_takes_every_line_of_the_orders(admin_client, lines):
    order = lines["a"].order
    response = admin_client.post(reverse("admin:cancellations_order_changelist"),
                                 {"action": "cancel_on_marketplace", "_selected_action": [order.pk]})
    assert response.status_code == 302
    ids = parse_qs(urlsplit(response["Location"]).query)["ids"][0]
    assert {int(i) for i in ids.split(",")} == {lines["a"].pk, lines["b"].pk, lines["shipped"].pk}


def test_confirmation_page_shows_groups_amounts_rates_and_what_is_not_cancellable(admin_client, lines):
    response = admin_client.get(confirm_url(lines["a"], lines["shipped"], lines["walmart"]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Mirakl shop" in body and "Walmart CA" in body
    pk = lines["a"].pk
    assert f'name="quantity-{pk}" id="id_quantity-{pk}" value="2"' in body
    assert ">20.00<" in body and ">5.00<" in body and "GST 1.00" in body and "<strong>26.00</strong> CAD" in body
    assert "Walmart Canada cancels by quantity and computes the refund" in body
    walmart = re.search(rf'id="account-{lines["walmart"].order.account_id}"(.*?)</table>', body, re.S).group(1)
    assert "Amount" not in walmart and "Shipping" not in walmart  # its spec: cancels carry no amounts
    blocked = re.search(rf'id="blocked-line-{lines["shipped"].pk}">(.*?)</tr>', body, re.S)
    assert blocked and "cannot be cancelled" in blocked.group(1)
    assert "Threshold: <strong>2.00 %</strong>" in body and "Threshold: <strong>3.00 %</strong>" in body
    mirakl = lines["a"].order.account_id  # its one order, placed today, would become cancelled: 0 % -> 100 %
    assert re.search(rf'id="rate-now-{mirakl}"[^>]*>0.00 %<', body)
    assert re.search(rf'id="rate-after-{mirakl}"[^>]*>100.00 %<', body)
    assert "Confirm cancellation" in body
    assert page_request_id(response)
    assert "Choose a reason" not in body and "Sent as" not in body  # nobody has chosen a reason yet
    assert body.index('id="confirm"') < body.index('id="recalculate"')  # Confirm is the primary button
    assert Cancellation.objects.count() == 0


def test_recalculate_reprices_an_edited_quantity_and_creates_nothing(admin_client, lines):
    a = lines["a"]
    request_id = page_request_id(admin_client.get(confirm_url(a)))
    response = admin_client.post(reverse(CONFIRM_URL), {
        "ids": str(a.pk), "request_id": request_id, "reason": "out_of_stock", f"quantity-{a.pk}": "1",
        "_recalculate": "1",
    })
    assert response.status_code == 200
    body = response.content.decode()
    assert ">10.00<" in body and ">2.50<" in body and "GST 0.50" in body
    assert "Sent as “Out of stock” (34)" in body  # the marketplace's label, not only its code
    assert f'value="{request_id}"' in body
    assert Cancellation.objects.count() == 0


def test_confirm_creates_the_cancellations_and_shows_them(admin_client, lines, django_capture_on_commit_callbacks):
    a, b, w, shipped = lines["a"], lines["b"], lines["walmart"], lines["shipped"]
    request_id = page_request_id(admin_client.get(confirm_url(a, b, w, shipped)))
    data = confirm_post([a, b, w, shipped], request_id, **{
        f"quantity-{a.pk}": "1", f"quantity-{b.pk}": "2", f"reason-{b.pk}": "21", f"quantity-{w.pk}": "3",
        f"quantity-{shipped.pk}": "0", "note": "stock count was wrong",
    })
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(reverse(CONFIRM_URL), data)
    assert response.status_code == 302
    request_id = Cancellation.objects.values_list("request_id", flat=True).distinct().get()
    assert response["Location"] == f"{reverse('admin:cancellations_cancellation_changelist')}?request_id={request_id}"
    assert callbacks, "dispatch is queued for after the commit"

    created = {c.line_id: c for c in Cancellation.objects.filter(request_id=request_id)}
    assert set(created) == {a.pk, b.pk, w.pk}
    assert (created[a.pk].quantity, created[a.pk].reason_code, created[a.pk].amount) == (1, "34", Decimal("10.00"))
    assert (created[b.pk].quantity, created[b.pk].reason_code) == (2, "21")
    assert created[w.pk].quantity == 3 and created[w.pk].source == "admin"
    assert created[a.pk].note == "stock count was wrong"
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("Requested 3 cancellation(s) on 2 marketplace account(s)" in m for m in messages)

    changelist = admin_client.get(response["Location"])
    assert changelist.context["cl"].result_count == 3


def test_a_second_submit_with_the_same_request_id_creates_nothing(admin_client, lines,
                                                                   django_capture_on_commit_callbacks):
    a = lines["a"]
    request_id = page_request_id(admin_client.get(confirm_url(a)))
    data = confirm_post([a], request_id, **{f"quantity-{a.pk}": "1"})
    with django_capture_on_commit_callbacks(execute=False):
        first = admin_client.post(reverse(CONFIRM_URL), data)
        second = admin_client.post(reverse(CONFIRM_URL), data)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert Cancellation.objects.count() == 1
    messages = [str(m) for m in get_messages(second.wsgi_request)]
    assert any("already submitted" in m for m in messages)


def test_a_refused_line_rerenders_with_its_error_and_creates_nothing(admin_client, lines):
    a, b = lines["a"], lines["b"]
    request_id = page_request_id(admin_client.get(confirm_url(a, b)))
    response = admin_client.post(reverse(CONFIRM_URL), confirm_post([a, b], request_id, **{
        f"quantity-{a.pk}": "5", f"quantity-{b.pk}": "1",
    }))
    assert response.status_code == 200
    row = re.search(rf'id="line-{a.pk}"(.*?)</tr>', response.content.decode(), re.S).group(1)
    assert "At most 2 unit(s) can still be cancelled" in row
    assert 'value="5"' in row  # what the user typed stays
    assert Cancellation.objects.count() == 0


def test_confirm_without_a_reason_asks_for_one(admin_client, lines):
    a = lines["a"]
    request_id = page_request_id(admin_client.get(confirm_url(a)))
    response = admin_client.post(reverse(CONFIRM_URL), confirm_post([a], request_id, reason=""))
    assert response.status_code == 200
    body = response.content.decode()
    field = re.search(r'id="reason-row">(.*?)</select>', body, re.S).group(1)
    assert "Choose a reason for every line" in field and 'id="reason-errors"' in field  # at the field
    assert "A reason is required" not in body  # not repeated on every line
    assert Cancellation.objects.count() == 0


def test_a_mistyped_quantity_is_reported_not_sent(admin_client, lines):
    a = lines["a"]
    request_id = page_request_id(admin_client.get(confirm_url(a)))
    response = admin_client.post(reverse(CONFIRM_URL), confirm_post([a], request_id, **{f"quantity-{a.pk}": "x"}))
    assert response.status_code == 200
    assert "Enter a whole number" in response.content.decode()
    assert Cancellation.objects.count() == 0


def action_names(changelist_response) -> set[str]:
    form = changelist_response.context["action_form"]  # None when the user has no action at all
    return set(dict(form.fields["action"].choices)) if form else set()


def _staff(*codenames: str) -> User:
    user = User.objects.create_user("ops", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="cancellations",
                                                        codename__in=codenames))
    return user


def test_without_the_permission_the_page_is_forbidden_and_nothing_is_created(client, lines):
    a = lines["a"]
    client.force_login(_staff("view_orderline", "view_order", "view_cancellation"))
    assert client.get(confirm_url(a)).status_code == 403
    response = client.post(reverse(CONFIRM_URL), confirm_post([a], str(uuid.uuid4())))
    assert response.status_code == 403
    assert Cancellation.objects.count() == 0
    changelist = client.get(reverse("admin:cancellations_orderline_changelist"))
    assert "cancel_on_marketplace" not in action_names(changelist)


def test_the_permission_alone_is_enough(client, lines, django_capture_on_commit_callbacks):
    a = lines["a"]
    client.force_login(_staff("view_orderline", "request_cancellation"))
    changelist = client.get(reverse("admin:cancellations_orderline_changelist"))
    assert "cancel_on_marketplace" in action_names(changelist)
    request_id = page_request_id(client.get(confirm_url(a)))
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse(CONFIRM_URL), confirm_post([a], request_id))
    assert response.status_code == 302
    assert Cancellation.objects.get().requested_by.username == "ops"


def test_bad_selection_or_request_id_is_refused(admin_client, lines):
    response = admin_client.get(f"{reverse(CONFIRM_URL)}?ids=1,abc")
    assert response.status_code == 400
    a = lines["a"]
    assert admin_client.post(reverse(CONFIRM_URL), confirm_post([a], "not-a-uuid")).status_code == 400
    assert Cancellation.objects.count() == 0


def test_a_reason_the_account_does_not_know_is_shown_on_its_line(admin_client, lines):
    a = lines["a"]
    request_id = page_request_id(admin_client.get(confirm_url(a)))
    response = admin_client.post(reverse(CONFIRM_URL), {
        "ids": str(a.pk), "request_id": request_id, "reason": "pricing_error", "_recalculate": "1",
    })
    row = re.search(rf'id="line-{a.pk}"(.*?)</tr>', response.content.decode(), re.S).group(1)
    assert "is not a valid cancellation reason on Mirakl shop" in row
    assert f'name="quantity-{a.pk}"' in row  # still editable: another reason fixes it


@pytest.mark.parametrize("count", [2, 30])
def test_confirmation_page_queries_do_not_grow_with_lines(admin_client, django_assert_max_num_queries, count):
    account = account_create(marketplace="mirakl")
    MarketplaceReason.objects.create(account=account, code="34", normalised="out_of_stock")
    order = order_create(account=account, lines=count, ordered_at=timezone.now())
    selected = list(order.lines.all())
    with django_assert_max_num_queries(14):
        response = admin_client.get(confirm_url(*selected))
    assert response.content.decode().count('<tr id="line-') == count


def test_no_threshold_warning_for_a_group_with_nothing_to_cancel(admin_client, lines):
    from tests.admin.builders import cancellation_create

    shipped = lines["shipped"]
    other = order_create(account=shipped.order.account, lines=1, ordered_at=timezone.now())
    cancellation_create(other.lines.get(), status="confirmed")  # the account is already over its threshold
    body = admin_client.get(confirm_url(shipped)).content.decode()
    assert "cannot be cancelled" in body
    assert "Above the threshold after this cancellation" not in body and 'id="confirm"' not in body
    body = admin_client.get(confirm_url(lines["a"])).content.decode()
    assert "Above the threshold after this cancellation" in body
