"""A person works the admin: cancels from the order page, adds accounts per marketplace, works the
needs-attention queue. Chromium at 1400 px against the live server and the sandbox over real HTTP."""

from __future__ import annotations

import pytest

from cancellations.models import AttentionNote, Cancellation, Order
from tests.e2e.conftest import screenshot
from tests.e2e.test_admin_cancel_flow import _line, _log_in, accounts  # noqa: F401 (fixture)
from tests.integration.conftest import fault_add

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_cancel_lines_from_the_order_page(page, live_server, accounts):  # noqa: F811
    walmart, _ = accounts
    order = Order.objects.get(account=walmart, external_id="5801000000022")
    base = live_server.url
    synced = set(Cancellation.objects.values_list("pk", flat=True))  # ones the sync found on the marketplace
    _log_in(page, base)
    page.goto(f"{base}/admin/cancellations/order/{order.pk}/change/")
    page.click("#cancel-lines")
    page.wait_for_selector("#cancel-confirm-form")
    # Confirm is the primary button, before Recalculate; a missing reason is flagged at the reason field.
    assert page.locator(".submit-row button").first.get_attribute("id") == "confirm"
    page.click("#confirm")
    page.wait_for_selector("#reason-errors")
    assert "Choose a reason" in page.inner_text("#reason-row")
    assert set(Cancellation.objects.values_list("pk", flat=True)) == synced
    lines = list(order.lines.order_by("pk"))
    for line in lines[1:]:
        page.fill(f"#id_quantity-{line.pk}", "0")  # cancel only the first line
    page.select_option("#id_reason", "customer_request")
    page.click("#confirm")
    page.wait_for_url("**/admin/cancellations/cancellation/**")
    assert "Confirmed" in page.locator("#result_list tbody tr").first.inner_text()
    (c,) = Cancellation.objects.exclude(pk__in=synced)
    assert (c.line_id, c.status) == (lines[0].pk, "confirmed")

    page.goto(f"{base}/admin/cancellations/order/{order.pk}/change/")
    timeline = page.inner_text("fieldset:has-text('Timeline')")
    assert f"#{c.pk}" in timeline and "Confirmed" in timeline
    screenshot(page, "order-page.png")
    page.goto(f"{base}/admin/cancellations/cancellation/")
    screenshot(page, "cancellations-list.png")
    for model in ("order", "orderline", "cancellation", "marketplaceaccount", "marketplacecall"):
        page.goto(f"{base}/admin/cancellations/{model}/")
        width, room = page.evaluate("[document.querySelector('#changelist .results').scrollWidth, "
                                    "document.querySelector('#changelist .results').clientWidth]")
        assert width <= room, f"the {model} list scrolls sideways at 1400 px ({width} > {room})"
    screenshot(page, "calls-list.png")


@pytest.mark.parametrize(("marketplace", "shown", "hidden"), [
    ("mirakl", ["#id_credential_api_key", "#id_option_shop_id"], ["#id_credential_client_id", "#id_auth"]),
    ("walmart_ca", ["#id_auth", "#id_credential_client_id"], ["#id_credential_api_key"]),
])
def test_the_account_form_shows_only_its_marketplaces_fields(page, live_server, accounts, marketplace,  # noqa: F811
                                                             shown, hidden):
    base = live_server.url
    _log_in(page, base)
    page.goto(f"{base}/admin/cancellations/marketplaceaccount/add/")
    page.click(f"a[href='?marketplace={marketplace}']")
    page.wait_for_selector("#marketplaceaccount_form")
    for selector in shown:
        assert page.locator(selector).count() == 1, selector
    for selector in hidden:
        assert page.locator(selector).count() == 0, selector
    if marketplace == "walmart_ca":  # only the chosen auth mode's credentials are visible
        page.select_option("#id_auth", "oauth")
        assert page.is_visible("#id_credential_client_id") and not page.is_visible("#id_credential_consumer_id")
    screenshot(page, f"account-form-{marketplace}.png")


def test_work_the_needs_attention_queue(page, live_server, accounts):  # noqa: F811
    _, mirakl = accounts
    sd_card = _line(mirakl, "BBY-1006-A", "SD-128")
    fault_add(mirakl, "reject_line", line_id=sd_card.external_id, message="Order line has an open incident")
    base = live_server.url
    _log_in(page, base)
    page.goto(f"{base}/admin/cancellations/order/{sd_card.order_id}/change/")
    page.click("#cancel-lines")
    page.wait_for_selector("#cancel-confirm-form")
    page.select_option("#id_reason", "customer_request")
    for line in sd_card.order.lines.exclude(pk=sd_card.pk):
        page.fill(f"#id_quantity-{line.pk}", "0")
    page.click("#confirm")
    page.wait_for_url("**/admin/cancellations/cancellation/**")
    c = Cancellation.objects.get(line=sd_card)
    assert c.status == "rejected"

    page.goto(f"{base}/admin/")
    row = page.locator(f"#attention-{c.pk}")
    assert "Order line has an open incident" in row.inner_text()
    row.locator("input[name=note]").fill("Asked Best Buy support to close the incident")
    row.locator("button[name=take]").click()
    page.wait_for_selector(f"#attention-{c.pk}")
    row = page.locator(f"#attention-{c.pk}")
    assert "ops" in row.locator(".taken-by").inner_text()
    assert row.locator("input[name=note]").input_value() == "Asked Best Buy support to close the incident"
    note = AttentionNote.objects.get(cancellation=c)
    assert (note.taken_by.username, note.note) == ("ops", "Asked Best Buy support to close the incident")
    screenshot(page, "dashboard.png")
