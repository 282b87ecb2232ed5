"""A person cancels Walmart and Mirakl lines in the admin; the sandbox answers over real HTTP."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from cancellations.models import Cancellation, OrderLine
from cancellations.sandbox import mirakl as mirakl_sandbox
from cancellations.sandbox import walmart as walmart_sandbox
from tests.e2e.conftest import screenshot
from tests.integration.conftest import fault_add, sandbox_account, walmart_credentials

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "e2e-Passw0rd!"


@pytest.fixture
def accounts(live_server):
    credentials, options = walmart_credentials("signature")
    walmart = sandbox_account(live_server, name="Walmart CA", marketplace="walmart_ca", credentials=credentials,
                              options=options, seed=walmart_sandbox.orders_seed)
    mirakl = sandbox_account(live_server, name="Best Buy CA", marketplace="mirakl",
                             credentials={"api_key": "e2e-mirakl-key-0001"}, options={"shop_id": "2001"},
                             seed=mirakl_sandbox.orders_seed)
    get_user_model().objects.create_superuser("ops", "ops@example.com", PASSWORD)
    return walmart, mirakl


def _line(account, order_id: str, sku: str) -> OrderLine:
    return OrderLine.objects.get(order__account=account, order__external_id=order_id, sku=sku)


def _log_in(page, base: str) -> None:
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/")


def _cancel_in_admin(page, base: str, lines: list[OrderLine], *, quantities: dict[int, int] | None = None,
                     shot: str | None = None) -> None:
    """Select lines on the order-line list, run the action, adjust quantities, confirm."""
    page.goto(f"{base}/admin/cancellations/orderline/?all=1")
    for line in lines:
        page.check(f"input[name=_selected_action][value='{line.pk}']")
    page.select_option("select[name=action]", "cancel_on_marketplace")
    page.click("button[name=index]")
    page.wait_for_selector("#cancel-confirm-form")
    page.select_option("#id_reason", "customer_request")
    for pk, quantity in (quantities or {}).items():
        page.fill(f"#id_quantity-{pk}", str(quantity))
    page.click("#recalculate")
    page.wait_for_selector("#cancel-confirm-form")
    if shot:
        screenshot(page, shot)
    page.click("#confirm")
    page.wait_for_url("**/admin/cancellations/cancellation/**")


def test_cancel_walmart_and_mirakl_lines_in_the_admin(page, live_server, accounts):
    walmart, mirakl = accounts
    base = live_server.url
    boots = _line(walmart, "5801000000033", "WM-BOOTS-W9")
    socks = _line(walmart, "5801000000033", "WM-SOCKS-3PK")
    hdmi = _line(mirakl, "BBY-1002-A", "HDMI-2M")
    _log_in(page, base)

    _cancel_in_admin(page, base, [boots, socks, hdmi], quantities={boots.pk: 1, hdmi.pk: 2},
                     shot="cancel-confirmation.png")
    # The confirmation page showed Mirakl's computed amounts before confirming: 2 of 3 HDMI cables.
    done = {c.line_id: c for c in Cancellation.objects.exclude(source="marketplace")}
    assert {pk: c.quantity for pk, c in done.items()} == {boots.pk: 1, socks.pk: 3, hdmi.pk: 2}
    assert str(done[hdmi.pk].amount) == "20.00"
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 3
    for i in range(3):
        assert "Confirmed" in rows.nth(i).inner_text()
    assert all(c.status == "confirmed" for c in done.values())

    # A sandbox-injected business rejection: its marketplace message is shown in the admin.
    sd_card = _line(mirakl, "BBY-1006-A", "SD-128")
    fault_add(mirakl, "reject_line", line_id=sd_card.external_id, message="Order line has an open incident")
    _cancel_in_admin(page, base, [sd_card])
    row = page.locator("#result_list tbody tr").first
    assert "Rejected" in row.inner_text()
    row.locator("th a, td a").first.click()
    page.wait_for_selector("#content-main")
    assert "Order line has an open incident" in page.content()

    page.goto(f"{base}/admin/")
    page.wait_for_selector("#content-main")
    assert "Walmart CA" in page.content() and "Best Buy CA" in page.content()
    screenshot(page, "dashboard.png")
