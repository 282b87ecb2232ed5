"""Model invariants: uniqueness, cancellable quantity, encrypted credentials, masking of call logs."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.db import IntegrityError, connection, transaction

from cancellations.fields import CredentialsDecryptionError, _fernet
from cancellations.masking import MASK, mask_headers, mask_text
from cancellations.models import Cancellation, MarketplaceAccount, Order, OrderLine
from tests.factories import account_create, line_create, order_create

pytestmark = pytest.mark.django_db


def test_order_is_unique_per_account_not_globally():
    a, b = account_create(), account_create()
    order_create(account=a, external_id="X-1", lines=0)
    order_create(account=b, external_id="X-1", lines=0)  # another account may reuse the id
    with pytest.raises(IntegrityError), transaction.atomic():
        order_create(account=a, external_id="X-1", lines=0)


def test_line_is_unique_per_order_and_cannot_be_over_cancelled():
    order = order_create(account=account_create(), external_id="O", lines=0)
    line_create(order=order, external_id="O-1", quantity=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        line_create(order=order, external_id="O-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderLine.objects.filter(external_id="O-1").update(cancelled_quantity=3)


def test_cancellable_quantity_counts_confirmed_and_in_flight_but_not_failed():
    account = account_create()
    line = line_create(order=order_create(account=account, lines=0), external_id="L", quantity=5,
                       cancelled_quantity=1)
    for status, qty in (("pending", 1), ("verifying", 1), ("failed", 2), ("rejected", 1), ("confirmed", 1)):
        Cancellation.objects.create(line=line, account=account, quantity=qty, reason_code="21", status=status,
                                    source="cli")
    annotated = OrderLine.objects.with_in_flight().get(pk=line.pk)
    assert annotated.in_flight == 2 and annotated.cancellable_quantity == 2
    assert OrderLine.objects.get(pk=line.pk).cancellable_quantity == 2  # same without the annotation
    with pytest.raises(IntegrityError), transaction.atomic():
        Cancellation.objects.create(line=line, account=account, quantity=0, reason_code="21", source="cli")


def _stored_column(account: MarketplaceAccount) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM cancellations_marketplaceaccount WHERE id = %s", [account.pk])
        return cursor.fetchone()[0]


def test_credentials_round_trip_and_the_column_holds_no_secret():
    secret = "sk-live-0123456789abcdef"
    account = account_create(marketplace="mirakl", credentials={"api_key": secret})
    assert MarketplaceAccount.objects.get(pk=account.pk).credentials == {"api_key": secret}
    raw = _stored_column(account)
    assert secret not in raw and "api_key" not in raw and raw.startswith("gAAAA")  # a Fernet token


def test_key_rotation_and_a_wrong_key_fails_loudly(settings):
    old = Fernet.generate_key().decode()
    settings.CREDENTIALS_ENCRYPTION_KEYS = [old]
    account = account_create(marketplace="mirakl", credentials={"api_key": "rotate-me"})
    settings.CREDENTIALS_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old]  # new key first, old decrypts
    assert MarketplaceAccount.objects.get(pk=account.pk).credentials == {"api_key": "rotate-me"}
    settings.CREDENTIALS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    _fernet.cache_clear()
    with pytest.raises(CredentialsDecryptionError):
        MarketplaceAccount.objects.get(pk=account.pk)


def test_masking_of_headers_bodies_and_literal_secrets():
    headers = mask_headers({"Authorization": "key-1", "WM_SEC.AUTH_SIGNATURE": "sig", "WM_SEC.ACCESS_TOKEN": "t",
                            "Accept": "application/json"})
    assert headers == {"Authorization": MASK, "WM_SEC.AUTH_SIGNATURE": MASK, "WM_SEC.ACCESS_TOKEN": MASK,
                       "Accept": "application/json"}
    assert mask_text('{"access_token":"abc","token_type":"Bearer"}') == '{"access_token":"***","token_type":"Bearer"}'
    form = "grant_type=client_credentials&client_secret="
    assert mask_text(f"{form}s3") == f"{form}***"
    assert mask_text("<accessToken>zzz</accessToken>") == "<accessToken>***</accessToken>"
    assert mask_text("url?key=supersecret", secrets=["supersecret"]) == "url?key=***"


def test_str_of_the_main_models():
    account = account_create(marketplace="mirakl", name="shop")
    order = order_create(account=account, external_id="A-1", lines=1)
    assert str(account) == "shop (Mirakl)" and str(order) == "A-1 (shop)"
    assert str(Order.objects.get().lines.get()).startswith("A-1 line A-1-1")
