"""Walmart CA's signature auth is deprecated: new accounts default to OAuth, old ones are named and warned about."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from cancellations.checks import accounts_on_deprecated_auth
from tests.factories import account_create

pytestmark = pytest.mark.django_db
SIGNATURE = {"auth": "signature", "consumer_id": "c", "channel_type": "ch", "private_key": "k"}


def test_the_system_check_names_each_account_still_on_signature_auth():
    account_create(marketplace="walmart_ca", name="Legacy CA", credentials=SIGNATURE)
    account_create(marketplace="walmart_ca", name="Modern CA")  # OAuth
    account_create(marketplace="mirakl", name="Shop")
    warnings = accounts_on_deprecated_auth(None, databases=["default"])
    assert [(w.id, w.msg) for w in warnings] == [
        ("cancellations.W001", "Account 'Legacy CA' (Walmart Canada) still uses Digital signature (legacy CA API).")]
    assert "OAuth" in warnings[0].hint
    out = StringIO()
    call_command("check", "--database", "default", stdout=out, stderr=out)
    assert "Legacy CA" in out.getvalue() and "Modern CA" not in out.getvalue()


def test_an_account_that_names_no_mode_counts_as_signature_and_is_named():
    account_create(marketplace="walmart_ca", name="Old", options={},
                   credentials={k: v for k, v in SIGNATURE.items() if k != "auth"})
    assert [w.obj.name for w in accounts_on_deprecated_auth(None, databases=["default"])] == ["Old"]


def test_no_database_no_check():
    account_create(marketplace="walmart_ca", credentials=SIGNATURE)
    assert accounts_on_deprecated_auth(None, databases=None) == []


def test_the_admin_warns_on_an_account_still_on_signature_auth(admin_client):
    legacy = account_create(marketplace="walmart_ca", credentials=SIGNATURE)
    modern = account_create(marketplace="walmart_ca")
    url = "admin:cancellations_marketplaceaccount_change"
    body = admin_client.get(reverse(url, args=[legacy.pk])).content.decode()
    assert "Walmart no longer supports digital-signature auth for Canada" in body
    assert "no longer supports" not in admin_client.get(reverse(url, args=[modern.pk])).content.decode()
    listing = admin_client.get(reverse("admin:cancellations_marketplaceaccount_changelist")).content.decode()
    assert "signature (deprecated)" in listing
