"""Issue 8 §1: stored credentials are only ever sent where they were given for; changes are audited."""

from __future__ import annotations

import pytest
import responses
from django.urls import reverse

from cancellations.marketplaces.base import ConfigurationError
from cancellations.marketplaces.registry import get_backend
from cancellations.models import AccountChange, MarketplaceAccount
from tests.admin.test_admin_smoke import _account_post
from tests.api.conftest import user_with
from tests.factories import account_create

pytestmark = pytest.mark.django_db
SECRET = "bound-secret-0001"
EVIL = "https://attacker.example.net"


@pytest.fixture
def ops(db):
    return user_with("ops", "add_marketplaceaccount", "change_marketplaceaccount", "view_marketplaceaccount")


def test_api_patch_of_base_url_alone_is_refused_naming_credentials(api, ops):
    account = account_create(marketplace="mirakl", credentials={"api_key": SECRET})
    response = api(ops).patch(f"/api/accounts/{account.pk}/", {"base_url": EVIL}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["credentials"]
    account.refresh_from_db()
    assert account.base_url == "https://marketplace.example.com"
    assert not AccountChange.objects.exists()


def test_api_patch_of_base_url_with_credentials_is_accepted_and_audited(api, ops):
    account = account_create(marketplace="mirakl", credentials={"api_key": SECRET})
    response = api(ops).patch(f"/api/accounts/{account.pk}/",
                              {"base_url": "https://new.example.com", "credentials": {"api_key": "new-key"}},
                              format="json")
    assert response.status_code == 200, response.content
    change = AccountChange.objects.get(account=account)
    assert change.actor == ops and change.source == "api"
    assert change.changed == ["base_url", "credentials"]
    assert change.before["base_url"] == "https://marketplace.example.com"
    assert change.after["base_url"] == "https://new.example.com"
    assert change.credential_keys == ["api_key"]
    assert "new-key" not in str(change.__dict__) and SECRET not in str(change.__dict__)
    account.refresh_from_db()
    assert account.credentials_bound_here()


def test_api_same_base_url_needs_no_credentials(api, ops):
    account = account_create(marketplace="mirakl", credentials={"api_key": SECRET})
    response = api(ops).patch(f"/api/accounts/{account.pk}/", {"base_url": account.base_url + "/",
                                                                "enabled": False}, format="json")
    assert response.status_code == 200, response.content


def test_admin_change_of_base_url_without_credentials_is_a_form_error(admin_client):
    account = account_create(marketplace="mirakl", credentials={"api_key": SECRET})
    url = reverse("admin:cancellations_marketplaceaccount_change", args=[account.pk])
    response = admin_client.post(url, _account_post(account, base_url=EVIL))
    assert response.status_code == 200
    assert "enter the credentials again" in response.content.decode()
    account.refresh_from_db()
    assert account.base_url == "https://marketplace.example.com"


# (An account's marketplace cannot change in the admin at all: tests/admin/test_account_form.py.)
@pytest.mark.parametrize("change", [{"base_url": EVIL}])
def test_admin_rebinding_with_partial_credentials_never_merges_the_stored_ones(admin_client, change):
    account = account_create(marketplace="walmart_ca", options={"auth": "oauth"},
                             credentials={"auth": "oauth", "client_id": "cid", "client_secret": SECRET})
    url = reverse("admin:cancellations_marketplaceaccount_change", args=[account.pk])
    response = admin_client.post(url, _account_post(account, credential_client_id="typed", **change))
    assert response.status_code == 200  # the secret is missing: it is not taken from the stored credentials
    account.refresh_from_db()
    assert SECRET in account.credentials.values() and account.base_url != EVIL


def test_admin_walmart_auth_mode_change_requires_credentials(admin_client):
    account = account_create(marketplace="walmart_ca", options={"auth": "oauth"},
                             credentials={"auth": "oauth", "client_id": "cid", "client_secret": SECRET})
    url = reverse("admin:cancellations_marketplaceaccount_change", args=[account.pk])
    response = admin_client.post(url, _account_post(account, auth="signature"))
    assert response.status_code == 200
    assert "enter the credentials again" in response.content.decode()


def test_admin_rebinding_with_all_credentials_is_saved_and_audited(admin_client, admin_user):
    account = account_create(marketplace="mirakl", credentials={"api_key": SECRET})
    url = reverse("admin:cancellations_marketplaceaccount_change", args=[account.pk])
    response = admin_client.post(url, _account_post(account, base_url="https://new.example.com",
                                                    credential_api_key="fresh-key"))
    assert response.status_code == 302
    change = AccountChange.objects.get(account=account)
    assert (change.actor, change.source, change.changed) == (admin_user, "admin", ["base_url", "credentials"])
    assert "fresh-key" not in str(change.__dict__)


def test_admin_rename_records_no_change_row(admin_client):
    account = account_create(marketplace="mirakl", credentials={"api_key": SECRET})
    url = reverse("admin:cancellations_marketplaceaccount_change", args=[account.pk])
    assert admin_client.post(url, _account_post(account, name="renamed")).status_code == 302
    assert not AccountChange.objects.exists()


@responses.activate
def test_credentials_never_reach_a_host_changed_behind_the_forms_back():
    """The mechanism, not the forms: a destination changed by any path leaves the credentials unusable."""
    account = account_create(marketplace="mirakl", credentials={"api_key": SECRET})
    MarketplaceAccount.objects.filter(pk=account.pk).update(base_url=EVIL)
    account.refresh_from_db()
    with pytest.raises(ConfigurationError) as caught:
        get_backend(account)
    assert caught.value.code == "credentials_not_bound"
    assert not responses.calls
    account.credentials = {"api_key": "given-for-the-new-host"}
    account.save()
    assert get_backend(account).account.credentials["api_key"] == "given-for-the-new-host"


def test_the_account_page_shows_who_changed_the_host_without_secrets(admin_client, admin_user):
    account = account_create(marketplace="mirakl", credentials={"api_key": SECRET})
    url = reverse("admin:cancellations_marketplaceaccount_change", args=[account.pk])
    admin_client.post(url, _account_post(account, base_url="https://new.example.com", credential_api_key="fresh-key-9"))
    page = admin_client.get(url).content.decode()
    assert "History of host and credential changes" in page and admin_user.username in page
    assert "https://marketplace.example.com" in page and "fresh-key-9" not in page and SECRET not in page
