"""What a person reads in the admin: links between objects, marketplace ids, exact bodies, one date format."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cancellations.admin.display import pretty_text
from cancellations.models import CancellationEvent, MarketplaceCall
from tests.admin.builders import cancellation_create
from tests.factories import account_create, order_create

pytestmark = pytest.mark.django_db


def test_bodies_are_pretty_printed_from_the_exact_text():
    text = '{"cancelations": [{"order_line_id": "A-1", "amount": 10.00, "taxes": [], "z": 1e2}], "a": null}'
    assert pretty_text(text) == (
        '{\n  "cancelations": [\n    {\n      "order_line_id": "A-1",\n      "amount": 10.00,\n'
        '      "taxes": [],\n      "z": 1e2\n    }\n  ],\n  "a": null\n}')
    assert pretty_text('{"broken": ') == '{"broken": '  # shown as received


def test_an_account_name_that_says_its_marketplace_is_not_repeated():
    assert str(account_create(marketplace="mirakl", name="Best Buy CA (Mirakl)")) == "Best Buy CA (Mirakl)"
    assert str(account_create(marketplace="mirakl", name="Best Buy")) == "Best Buy (Mirakl)"


@pytest.fixture
def rejected(db):
    account = account_create(marketplace="mirakl", name="Best Buy CA")
    order = order_create(account=account, external_id="BBY-7", lines=2)
    line = order.lines.order_by("pk").first()
    c = cancellation_create(line, status="rejected", quantity=1, error_code="http_400",
                            error_message="Order line has an open incident")
    CancellationEvent.objects.create(cancellation=c, from_status="pending", to_status="rejected",
                                     message="A person asked")
    call = MarketplaceCall.objects.create(
        account=account, operation="cancel", method="PUT", url="https://m.example/api/orders/cancel",
        request_body='{"cancelations": [{"amount": 10.00}]}', status_code=400, state="done",
        response_body='{"message": "Order line has an open incident"}', duration_ms=42)
    call.cancellations.add(c)
    return c, call


def test_cancellation_list_links_order_and_line_and_shows_the_marketplace_message(admin_client, rejected):
    c, _ = rejected
    page = admin_client.get(reverse("admin:cancellations_cancellation_changelist")).content.decode()
    assert f'href="{reverse("admin:cancellations_order_change", args=[c.line.order_id])}">BBY-7</a>' in page
    assert f'href="{reverse("admin:cancellations_orderline_change", args=[c.line_id])}">{c.line.external_id}' in page
    assert "Order line has an open incident" in page


def test_cancellation_page_reads_in_marketplace_ids_with_its_timeline(admin_client, rejected):
    c, call = rejected
    page = admin_client.get(reverse("admin:cancellations_cancellation_change", args=[c.pk])).content.decode()
    assert f"Cancel 1 of line {c.line.external_id} on BBY-7" in page
    assert "object (" not in page  # no raw relation rows
    assert f'href="{reverse("admin:cancellations_marketplacecall_change", args=[call.pk])}">#{call.pk}</a>' in page
    assert "Amounts sent" in page  # Mirakl cancels carry amounts
    history = page[page.index("History (to the second)"):page.index("Marketplace calls:")]
    assert "Pending → " in history and ">Rejected</span>" in history and "A person asked" in history


def test_walmart_cancellation_page_has_no_amount_section(admin_client):
    account = account_create(marketplace="walmart_ca", name="Walmart CA")
    c = cancellation_create(order_create(account=account, lines=1).lines.get())
    page = admin_client.get(reverse("admin:cancellations_cancellation_change", args=[c.pk])).content.decode()
    assert "Amounts sent" not in page


def test_call_pages_show_the_answer_the_exact_body_and_link_their_cancellations(admin_client, rejected):
    c, call = rejected
    listing = admin_client.get(reverse("admin:cancellations_marketplacecall_changelist")).content.decode()
    assert 'class="http-status"' in listing and ">400</span>" in listing and "Answered" not in listing
    link = f"{reverse('admin:cancellations_cancellation_changelist')}?calls__id__exact={call.pk}"
    assert f'href="{link}">1 cancellation</a>' in listing
    assert [x.pk for x in admin_client.get(link).context["cl"].result_list] == [c.pk]
    page = admin_client.get(reverse("admin:cancellations_marketplacecall_change", args=[call.pk])).content.decode()
    assert '&quot;amount&quot;: 10.00' in page and "10.0," not in page


def test_order_page_has_the_cancellations_timeline_and_a_cancel_lines_button(admin_client, rejected):
    c, _ = rejected
    order = c.line.order
    page = admin_client.get(reverse("admin:cancellations_order_change", args=[order.pk])).content.decode()
    ids = ",".join(str(pk) for pk in order.lines.order_by("pk").values_list("pk", flat=True))
    assert 'id="cancel-lines"' in page and f"ids={ids.replace(',', '%2C')}" in page
    assert "Order line has an open incident [http_400]" in page and "Rejected" in page
    created = c.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")  # one format, to the second
    assert created in page


def test_line_page_says_what_is_in_flight(admin_client, rejected):
    c, _ = rejected
    pending = cancellation_create(c.line, status="sending", quantity=1)
    page = admin_client.get(reverse("admin:cancellations_orderline_change", args=[c.line_id])).content.decode()
    assert f"1 unit(s): <a href=\"{reverse('admin:cancellations_cancellation_change', args=[pending.pk])}\">" \
           f"#{pending.pk}</a>" in page


def test_the_order_page_offers_no_cancel_button_without_the_permission(client, rejected, django_user_model):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(viewer)
    page = client.get(reverse("admin:cancellations_order_change", args=[rejected[0].line.order_id]))
    assert page.status_code == 200 and 'id="cancel-lines"' not in page.content.decode()
