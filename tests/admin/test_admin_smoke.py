"""Every admin changelist and change page loads, within one query bound whatever the number of rows."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib import admin
from django.db import connection
from django.urls import reverse

from cancellations.models import Cancellation, MarketplaceAccount
from tests.admin.builders import admin_rows_create
from tests.factories import account_create

# Session, user, permissions, counts, the page of rows, list filters' choices, inlines: all fixed.
MAX_QUERIES = 12
APP_LABELS = {"cancellations", "sandbox"}


def registered_models() -> list[type]:
    return sorted(
        (m for m in admin.site._registry if m._meta.app_label in APP_LABELS), key=lambda m: m._meta.label
    )


def test_every_model_of_both_apps_is_registered(settings):
    names = {m._meta.model_name for m in registered_models()}
    expected = {"marketplaceaccount", "order", "orderline", "cancellation", "cancellationevent",
                "marketplacecall", "marketplacereason", "inventoryadjustment"}
    if settings.SANDBOX_ENABLED:
        expected |= {"sandboxseller", "sandboxorder", "sandboxfault", "sandboxrequest", "sandboxcancel"}
    assert expected <= names


@pytest.mark.parametrize("rows", [2, 30])
@pytest.mark.parametrize("model", registered_models(), ids=lambda m: m._meta.model_name)
def test_changelist_queries_do_not_grow_with_rows(admin_client, admin_user, django_assert_max_num_queries,
                                                    model, rows):
    admin_rows_create(rows, user=admin_user)
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    with django_assert_max_num_queries(MAX_QUERIES):
        response = admin_client.get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count == model._default_manager.count() > 0


@pytest.mark.parametrize("rows", [2, 30])
@pytest.mark.parametrize("model", registered_models(), ids=lambda m: m._meta.model_name)
def test_change_page_queries_do_not_grow_with_rows(admin_client, admin_user, django_assert_max_num_queries,
                                                   model, rows):
    admin_rows_create(rows, user=admin_user)
    # The first cancellation and the last order carry ``rows`` inline children (see admin_rows_create).
    obj = model._default_manager.order_by("pk").first() if model is Cancellation else (
        model._default_manager.order_by("pk").last())
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk])
    with django_assert_max_num_queries(MAX_QUERIES):
        response = admin_client.get(url)
    assert response.status_code == 200
    assert response.context["original"].pk == obj.pk


def test_account_pages_never_show_secret_values(admin_client):
    mirakl = account_create(marketplace="mirakl", credentials={"api_key": "TOPSECRET-mirakl-0001"})
    walmart = account_create(marketplace="walmart_ca", options={"auth": "oauth"},
                             credentials={"client_id": "cid-TOPSECRET-0002", "client_secret": "TOPSECRET-0003"})
    pages = [reverse("admin:cancellations_marketplaceaccount_changelist")] + [
        reverse("admin:cancellations_marketplaceaccount_change", args=[a.pk]) for a in (mirakl, walmart)
    ]
    for url in pages:
        body = admin_client.get(url).content.decode()
        assert "TOPSECRET" not in body, url
    change = admin_client.get(pages[2]).content.decode()
    assert "configured (2 fields: client_id, client_secret)" in change


def _account_post(account: MarketplaceAccount, **overrides) -> dict:
    data = {"name": account.name, "marketplace": account.marketplace, "base_url": account.base_url,
            "enabled": "on", **({"auth": "oauth"} if account.marketplace == "walmart_ca" else {})}
    data.update(overrides)
    return data


def test_blank_credential_inputs_keep_the_stored_values(admin_client):
    account = account_create(marketplace="mirakl", credentials={"api_key": "keep-me"})
    url = reverse("admin:cancellations_marketplaceaccount_change", args=[account.pk])
    response = admin_client.post(url, _account_post(account, name="renamed"))
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.credentials == {"api_key": "keep-me"}
    assert account.name == "renamed"


def test_credential_inputs_replace_the_stored_values_and_blank_keeps_them(admin_client):
    account = account_create(marketplace="mirakl", credentials={"api_key": "old"})
    url = reverse("admin:cancellations_marketplaceaccount_change", args=[account.pk])
    assert admin_client.post(url, _account_post(account, credential_api_key="new-key")).status_code == 302
    account.refresh_from_db()
    assert account.credentials == {"api_key": "new-key"}
    assert admin_client.post(url, _account_post(account)).status_code == 302
    account.refresh_from_db()
    assert account.credentials == {"api_key": "new-key"}


def test_missing_required_credentials_are_refused_without_echoing_input(admin_client):
    account = account_create(marketplace="walmart_ca", options={"auth": "oauth"},
                             credentials={"client_id": "cid", "client_secret": "sec"})
    url = reverse("admin:cancellations_marketplaceaccount_change", args=[account.pk])
    response = admin_client.post(url, _account_post(
        account, clear_credentials="on", credential_client_id="typed-secret-id"
    ))
    assert response.status_code == 200
    body = response.content.decode()
    assert "This field is required." in body  # client_secret, from the same validator the API uses
    assert "typed-secret-id" not in body
    account.refresh_from_db()
    assert account.credentials == {"client_id": "cid", "client_secret": "sec"}


def test_add_account_stores_credentials_encrypted(admin_client):
    response = admin_client.post(reverse("admin:cancellations_marketplaceaccount_add"), {
        "name": "new-mirakl", "marketplace": "mirakl", "base_url": "https://m.example.com", "enabled": "on",
        "credential_api_key": "brand-new-key",
    })
    assert response.status_code == 302
    account = MarketplaceAccount.objects.get(name="new-mirakl")
    assert account.credentials == {"api_key": "brand-new-key"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM cancellations_marketplaceaccount WHERE id = %s", [account.pk])
        (stored,) = cursor.fetchone()
    assert stored and "brand-new-key" not in stored


def test_sandbox_admin_is_not_registered_when_the_sandbox_is_off():
    probe = ("import django; django.setup(); from django.contrib import admin; "
             "print(sorted({m._meta.app_label for m in admin.site._registry}))")
    env = {**os.environ, "SANDBOX_ENABLED": "false", "DJANGO_SETTINGS_MODULE": "backoffice.settings"}
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60,
                            cwd=settings.BASE_DIR, check=True)
    labels = result.stdout.strip()
    assert "'cancellations'" in labels and "'sandbox'" not in labels


@pytest.mark.parametrize(("overrides", "message"), [
    ({"base_url": "http://marketplace.example.com"}, "base_url must use https"),
    ({"auth": "signature", "clear_credentials": "on", "credential_consumer_id": "c1",
      "credential_private_key": "not-a-key", "credential_channel_type": "ch"}, "private key could not be loaded"),
    ({"auth": "signature", "clear_credentials": "on", "credential_consumer_id": "c1"},
     "This field is required."),
])
def test_account_form_uses_the_shared_checks(admin_client, overrides, message):
    account = account_create(marketplace="walmart_ca", options={"auth": "oauth"},
                             credentials={"auth": "oauth", "client_id": "cid", "client_secret": "sec"})
    url = reverse("admin:cancellations_marketplaceaccount_change", args=[account.pk])
    response = admin_client.post(url, _account_post(account, **overrides))
    assert response.status_code == 200 and message in response.content.decode()
    account.refresh_from_db()
    assert account.credentials["client_secret"] == "sec" and account.base_url.startswith("https://")
