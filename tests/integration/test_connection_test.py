"""'Test connection': one cheap read call through the real backend, what it found, or the next step."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cancellations.models import MarketplaceAccount, MarketplaceCall
from cancellations.services.account_connection import account_connection_test
from tests.integration.conftest import fault_add


def test_mirakl_connection_test_reads_the_reasons(mirakl_live):
    before = MarketplaceCall.objects.count()
    ok, found = account_connection_test(account=mirakl_live)
    assert ok and found == "Connected: the shop answered with 4 cancellation reason(s) (RE01)."
    assert list(MarketplaceCall.objects.order_by("pk").values_list("operation", flat=True)[before:]) == ["reasons"]
    mirakl_live.refresh_from_db()
    assert mirakl_live.connection_result == found and mirakl_live.connection_checked_at


def test_walmart_connection_test_reads_one_order(walmart_live):
    ok, found = account_connection_test(account=walmart_live)
    assert ok and found.startswith("Connected: the orders API answered (latest: ")


def test_a_refused_key_says_which_credential_to_check(mirakl_live):
    fault_add(mirakl_live, "unauthorized", operation="reasons")
    ok, result = account_connection_test(account=mirakl_live)
    assert not ok and result.startswith("Failed: HTTP 401 ")
    assert "Next step: check the" in result and "API key" in result
    mirakl_live.refresh_from_db()
    assert "Connection test: Failed: HTTP 401" in mirakl_live.last_error  # shown on the account


def test_the_admin_action_tests_and_the_list_shows_the_result(mirakl_live, admin_client):
    url = reverse("admin:cancellations_marketplaceaccount_changelist")
    answer = admin_client.post(url, {"action": "test_connection", "_selected_action": [mirakl_live.pk]},
                               follow=True)
    assert "Connection test started for 1 account(s)" in answer.content.decode()
    assert MarketplaceAccount.objects.get(pk=mirakl_live.pk).connection_result.startswith("Connected")
    assert "✔ Connected: the shop answered" in admin_client.get(url).content.decode()


def test_an_account_error_during_a_sync_says_what_to_check(mirakl_live):
    from cancellations.marketplaces.base import AccountError
    from cancellations.services import orders_sync

    fault_add(mirakl_live, "unauthorized", operation="reasons")
    with pytest.raises(AccountError):
        orders_sync(account=mirakl_live)
    mirakl_live.refresh_from_db()
    assert mirakl_live.last_error.startswith("Sync failed: ")
    assert "Next step: check the" in mirakl_live.last_error and "API key" in mirakl_live.last_error
