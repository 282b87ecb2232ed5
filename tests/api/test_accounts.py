"""Accounts over the API: credential shapes, write-only secrets, permissions, sync."""

from __future__ import annotations

import base64
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cancellations.models import MarketplaceAccount
from cancellations.pacing import account_throttled
from tests.api.conftest import user_with
from tests.factories import account_create

pytestmark = pytest.mark.django_db

URL = "/api/accounts/"
SECRET = "s3cret-never-shown"


@pytest.fixture(scope="module")
def private_key() -> str:
    """A Walmart-style key: base64 of the PKCS#8 DER."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return base64.b64encode(der).decode()


def _mirakl(**overrides):
    return {"name": "bestbuy", "marketplace": "mirakl", "base_url": "https://bestbuy.mirakl.net",
            "credentials": {"api_key": SECRET}, "options": {"shop_id": 2001}, **overrides}


def _walmart_oauth(**credentials):
    return {"name": "walmart", "marketplace": "walmart_ca", "base_url": "https://marketplace.walmartapis.com",
            "credentials": {"auth": "oauth", "client_id": "client-1", "client_secret": SECRET, **credentials}}


def test_create_mirakl_account_stores_credentials_and_never_returns_them(account_admin, api):
    response = api(account_admin).post(URL, _mirakl(), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["credentials_configured"] is True and "credentials" not in data
    assert SECRET not in response.content.decode()
    account = MarketplaceAccount.objects.get(pk=data["id"])
    assert account.credentials == {"api_key": SECRET} and account.options == {"shop_id": 2001}


def test_create_walmart_oauth_copies_auth_into_options(account_admin, api):
    response = api(account_admin).post(URL, _walmart_oauth(), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["options"] == {"auth": "oauth"}
    assert MarketplaceAccount.objects.get().auth_mode == "oauth"


def test_create_walmart_signature_checks_the_key_loads(account_admin, api, private_key):
    body = {"name": "walmart", "marketplace": "walmart_ca", "base_url": "https://marketplace.walmartapis.com",
            "credentials": {"auth": "signature", "consumer_id": "c-1", "channel_type": "ch-1",
                            "private_key": private_key}}
    response = api(account_admin).post(URL, body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["options"] == {"auth": "signature"}
    assert private_key[:40] not in response.content.decode()


def test_a_key_that_does_not_load_is_a_400_that_does_not_echo_it(account_admin, api):
    bad_key = "bm90IGEga2V5IGF0IGFsbCBidXQgbG9uZyBlbm91Z2g="
    body = {"name": "walmart", "marketplace": "walmart_ca", "base_url": "https://marketplace.walmartapis.com",
            "credentials": {"auth": "signature", "consumer_id": "c-1", "channel_type": "ch-1",
                            "private_key": bad_key}}
    response = api(account_admin).post(URL, body, format="json")
    assert response.status_code == 400
    assert list(response.json()["credentials"]) == ["private_key"]
    assert bad_key not in response.content.decode()
    assert not MarketplaceAccount.objects.exists()


@pytest.mark.parametrize(("body", "errors"), [
    pytest.param(_walmart_oauth() | {"credentials": {"auth": "oauth", "client_id": "c"}},
                 {"credentials": {"client_secret": ["This field is required."]}}, id="oauth-without-secret"),
    pytest.param(_walmart_oauth() | {"credentials": {"client_id": "c", "client_secret": SECRET}},
                 {"credentials": {"auth": ["This field is required."]}}, id="walmart-without-auth"),
    pytest.param(_walmart_oauth(auth="basic"), {"credentials": {"auth": ["Use one of: signature, oauth."]}},
                 id="walmart-unknown-auth"),
    pytest.param(_walmart_oauth() | {"credentials": {"auth": "signature", "consumer_id": "c"}},
                 {"credentials": {"channel_type": ["This field is required."],
                                  "private_key": ["This field is required."]}}, id="signature-incomplete"),
    pytest.param(_mirakl(credentials={"token": SECRET}),
                 {"credentials": {"token": ["Unknown field."]}}, id="mirakl-unknown-key"),
    pytest.param(_mirakl(credentials={}), {"credentials": {"api_key": ["This field is required."]}},
                 id="mirakl-without-key"),
    pytest.param(_mirakl(credentials=SECRET), {"credentials": ["Expected an object."]}, id="not-an-object"),
    pytest.param({k: v for k, v in _mirakl().items() if k != "credentials"},
                 {"credentials": ["This field is required."]}, id="no-credentials"),
    pytest.param(_mirakl(options={"tax_mode": "GROSS"}),
                 {"options": {"tax_mode": ["Use one of: TAX_EXCLUDED, TAX_INCLUDED."]}}, id="bad-tax-mode"),
])
def test_bad_credentials_are_a_400_naming_the_field(body, errors, account_admin, api):
    response = api(account_admin).post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json() == errors
    assert SECRET not in response.content.decode()
    assert not MarketplaceAccount.objects.exists()


@pytest.mark.parametrize(("base_url", "ok"), [
    ("http://marketplace.example.com", False),
    ("ftp://marketplace.example.com", False),
    ("http://127.0.0.1:8000/sandbox/mirakl", True),
    ("https://marketplace.example.com/", True),
])
def test_base_url_must_be_https_except_loopback(base_url, ok, account_admin, api):
    response = api(account_admin).post(URL, _mirakl(base_url=base_url), format="json")
    assert response.status_code == (201 if ok else 400), response.content
    if ok:
        assert not response.json()["base_url"].endswith("/")
    else:
        assert "base_url" in response.json()


def test_reads_never_show_secrets(account_admin, viewer, api):
    account = account_create(marketplace="walmart_ca", credentials={"auth": "oauth", "client_id": "id-1",
                                                                    "client_secret": SECRET})
    client = api(viewer)
    listed = client.get(URL)
    detail = client.get(f"{URL}{account.pk}/")
    assert listed.status_code == detail.status_code == 200
    assert listed.json()["results"][0]["credentials_configured"] is True
    for response in (listed, detail):
        assert SECRET not in response.content.decode() and "client_secret" not in response.content.decode()
        assert "credentials" not in response.json().get("results", [response.json()])[0]


def test_patch_replaces_credentials_and_keeps_them_write_only(account_admin, api):
    account = account_create(marketplace="walmart_ca")
    client = api(account_admin)
    response = client.patch(f"{URL}{account.pk}/", {"enabled": False, "credentials": {
        "auth": "oauth", "client_id": "new-id", "client_secret": "new-secret-value"}}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["enabled"] is False and "new-secret-value" not in response.content.decode()
    account.refresh_from_db()
    assert account.credentials["client_id"] == "new-id" and account.options["auth"] == "oauth"


def test_patch_without_credentials_keeps_them_and_the_auth_mode(account_admin, api):
    account = account_create(marketplace="walmart_ca")
    response = api(account_admin).patch(f"{URL}{account.pk}/", {"options": {"auth": "signature"}},
                                        format="json")
    assert response.status_code == 200
    account.refresh_from_db()
    assert account.options["auth"] == "oauth" and account.credentials["client_secret"] == "s3cret-value"


def test_marketplace_cannot_change(account_admin, api):
    account = account_create(marketplace="mirakl")
    response = api(account_admin).patch(f"{URL}{account.pk}/", {"marketplace": "walmart_ca"}, format="json")
    assert response.status_code == 400 and "marketplace" in response.json()


def test_writing_needs_the_model_permissions(viewer, api):
    account = account_create(marketplace="mirakl", name="before")
    client = api(viewer)
    assert client.get(URL).status_code == 200
    assert client.post(URL, _mirakl(), format="json").status_code == 403
    assert client.patch(f"{URL}{account.pk}/", {"name": "after"}, format="json").status_code == 403
    assert client.post(f"{URL}{account.pk}/sync/").status_code == 403
    account.refresh_from_db()
    assert account.name == "before" and MarketplaceAccount.objects.count() == 1


def test_reading_needs_the_view_permission(db, api):
    assert api(user_with("nobody")).get(URL).status_code == 403
    assert api().get(URL).status_code == 401


def test_put_is_not_offered(account_admin, api):
    account = account_create(marketplace="mirakl")
    assert api(account_admin).put(f"{URL}{account.pk}/", _mirakl(), format="json").status_code == 405


def test_sync_is_queued_on_commit(account_admin, api, django_capture_on_commit_callbacks):
    account = account_create(marketplace="mirakl")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api(account_admin).post(f"{URL}{account.pk}/sync/")
    assert response.status_code == 202 and response.json() == {"status": "queued"}
    assert len(callbacks) == 1


def test_sync_of_a_disabled_account_is_a_409(account_admin, api, django_capture_on_commit_callbacks):
    account = account_create(marketplace="mirakl", enabled=False)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api(account_admin).post(f"{URL}{account.pk}/sync/")
    assert response.status_code == 409 and callbacks == []


def test_an_unknown_marketplace_is_refused_not_read_as_another(account_admin, api):
    response = api(account_admin).post(URL, _mirakl(marketplace="amazon"), format="json")
    assert response.status_code == 400
    assert response.json() == {"marketplace": ['"amazon" is not a valid choice.']}
    assert not MarketplaceAccount.objects.exists()


def test_credentials_of_an_unconfigured_marketplace_are_refused():
    from rest_framework.exceptions import ValidationError

    from cancellations.credentials import credentials_validate

    with pytest.raises(ValidationError, match="Unknown marketplace 'amazon'"):
        credentials_validate("amazon", {"api_key": SECRET})


def test_the_pace_settings_are_written_and_read_with_the_current_pace(account_admin, api):
    client = api(account_admin)
    response = client.post(URL, _mirakl(max_concurrent_sends=4, rate_limit_per_second="2.5"), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["max_concurrent_sends"] == 4 and data["rate_limit_per_second"] == "2.50"
    assert data["pace"] == {"sending": 0, "cap": 4, "rate": pytest.approx(2.5 * 0.95), "paused_until": None,
                            "throttled": 0}
    account = MarketplaceAccount.objects.get(pk=data["id"])
    assert account.max_concurrent_sends == 4 and account.rate_limit_per_second == Decimal("2.50")
    account_throttled(account.pk, retry_after=30)
    response = client.patch(f"{URL}{account.pk}/", {"max_concurrent_sends": None, "rate_limit_per_second": None},
                            format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["max_concurrent_sends"] is None and data["rate_limit_per_second"] is None
    assert data["pace"]["cap"] == 16 and data["pace"]["rate"] is None and data["pace"]["throttled"] == 1
    assert data["pace"]["paused_until"] is not None
    account.refresh_from_db()
    assert account.max_concurrent_sends is None and account.rate_limit_per_second is None


@pytest.mark.parametrize(("field", "value", "message"), [
    ("max_concurrent_sends", 0, "max_concurrent_sends must be at least 1 (null: the default)."),
    ("max_concurrent_sends", -3, "max_concurrent_sends must be at least 1 (null: the default)."),
    ("max_concurrent_sends", "many", "max_concurrent_sends must be a whole number (null: the default)."),
    ("max_concurrent_sends", 100000, "max_concurrent_sends must be at most 32767."),
    ("rate_limit_per_second", 0, "rate_limit_per_second must be above 0 (null: no limit)."),
    ("rate_limit_per_second", "-1", "rate_limit_per_second must be above 0 (null: no limit)."),
    ("rate_limit_per_second", "fast", "rate_limit_per_second must be a number of calls per second, such as 4 "
                                      "or 0.5 (null: no limit)."),
    ("rate_limit_per_second", "0.005", "rate_limit_per_second has at most 2 decimal places."),
])
def test_bad_pace_settings_are_a_400_naming_the_field(field, value, message, account_admin, api):
    account = account_create(marketplace="mirakl")
    response = api(account_admin).patch(f"{URL}{account.pk}/", {field: value}, format="json")
    assert response.status_code == 400
    assert response.json() == {field: [message]}
    account.refresh_from_db()
    assert account.max_concurrent_sends is None and account.rate_limit_per_second is None
