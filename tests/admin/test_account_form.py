"""The account form is derived from the marketplace's spec: its fields only, auth mode as a select."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cancellations.marketplaces.registry import specs
from cancellations.models import MarketplaceAccount
from tests.factories import account_create

pytestmark = pytest.mark.django_db
ADD = reverse("admin:cancellations_marketplaceaccount_add")


def _change(account: MarketplaceAccount) -> str:
    return reverse("admin:cancellations_marketplaceaccount_change", args=[account.pk])


def test_adding_starts_by_choosing_the_marketplace(admin_client):
    body = admin_client.get(ADD).content.decode()
    for spec in specs().values():
        assert f'href="?marketplace={spec.key}"' in body and spec.label in body
    assert 'name="credential_' not in body


def test_the_add_form_shows_only_its_marketplace_fields(admin_client):
    body = admin_client.get(ADD + "?marketplace=mirakl").content.decode()
    assert 'name="credential_api_key"' in body and 'name="option_shop_id"' in body
    assert 'name="option_tax_mode"' in body and "TAX_INCLUDED" in body
    assert 'name="credential_client_id"' not in body and 'name="auth"' not in body
    assert 'name="options"' not in body  # no JSON to type


def test_an_unknown_marketplace_is_offered_the_choice_again(admin_client):
    response = admin_client.post(ADD, {"name": "x", "marketplace": "amazon", "base_url": "https://a.example.com"})
    assert response.status_code == 200 and not MarketplaceAccount.objects.exists()
    assert "choose the marketplace" in response.content.decode()


def test_a_new_walmart_account_defaults_to_oauth_and_lists_each_modes_fields(admin_client):
    body = admin_client.get(ADD + "?marketplace=walmart_ca").content.decode()
    assert '<option value="oauth" selected>' in body
    for key in ("client_id", "client_secret", "consumer_id", "channel_type", "private_key"):
        assert f'name="credential_{key}"' in body
    assert "auth-mode-oauth" in body and "auth-mode-signature" in body and "account_form.js" in body
    assert 'name="credential_api_key"' not in body


def test_adding_a_walmart_oauth_account_stores_the_mode_in_options_and_credentials(admin_client):
    response = admin_client.post(ADD + "?marketplace=walmart_ca", {
        "name": "wm", "base_url": "https://marketplace.walmartapis.com", "enabled": "on", "auth": "oauth",
        "credential_client_id": "cid", "credential_client_secret": "csecret",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    account = MarketplaceAccount.objects.get(name="wm")
    assert account.marketplace == "walmart_ca" and account.options == {"auth": "oauth"}
    assert account.credentials == {"auth": "oauth", "client_id": "cid", "client_secret": "csecret"}


def test_options_are_form_fields_and_undeclared_keys_are_kept(admin_client):
    account = account_create(marketplace="mirakl", options={"shop_id": 7, "extra": "kept"})
    post = {"name": account.name, "base_url": account.base_url, "enabled": "on", "option_shop_id": "2001",
            "option_tax_mode": "TAX_INCLUDED"}
    assert admin_client.post(_change(account), post).status_code == 302
    account.refresh_from_db()
    assert account.options == {"shop_id": "2001", "tax_mode": "TAX_INCLUDED", "extra": "kept"}
    assert admin_client.post(_change(account), post | {"option_shop_id": "", "option_tax_mode": ""}).status_code == 302
    account.refresh_from_db()
    assert account.options == {"extra": "kept"}


def test_a_bad_option_choice_names_the_field(admin_client):
    account = account_create(marketplace="mirakl")
    response = admin_client.post(_change(account), {"name": account.name, "base_url": account.base_url,
                                                    "option_tax_mode": "GROSS"})
    assert response.status_code == 200
    assert "Select a valid choice. GROSS is not one of the available choices." in response.content.decode()


def test_the_marketplace_of_an_account_cannot_change(admin_client):
    account = account_create(marketplace="mirakl", credentials={"api_key": "k"})
    post = {"name": account.name, "marketplace": "walmart_ca", "base_url": account.base_url, "enabled": "on"}
    assert admin_client.post(_change(account), post).status_code == 302
    account.refresh_from_db()
    assert account.marketplace == "mirakl" and account.credentials == {"api_key": "k"}
