"""Walmart's digital signature: the public test vectors, every key form, and failures that keep the key out."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cancellations.marketplaces.base import AccountError
from cancellations.marketplaces.walmart_ca.signing import load_private_key, sign, string_to_sign, verify

FIXTURES = Path("/work/shared/fixtures/walmart_ca")
VECTORS = json.loads((FIXTURES / "signature_test_vectors.json").read_text())
DUMMY_KEY = VECTORS["private_key_pkcs8_der_base64"]


def _pem(fmt: serialization.PrivateFormat) -> str:
    key = load_private_key(DUMMY_KEY)
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["timestamp"])
def test_reproduces_public_vector(vector):
    signature = sign(
        consumer_id=vector["consumer_id"], url=vector["url"], method=vector["method"],
        timestamp_ms=vector["timestamp"], private_key=DUMMY_KEY,
    )
    assert signature == vector["expected_signature"]


@pytest.mark.parametrize(
    "key_text",
    [
        pytest.param(_pem(serialization.PrivateFormat.PKCS8), id="pem-pkcs8"),
        pytest.param(_pem(serialization.PrivateFormat.TraditionalOpenSSL), id="pem-pkcs1"),
        pytest.param("\n".join(DUMMY_KEY[i:i + 64] for i in range(0, len(DUMMY_KEY), 64)) + "\n", id="wrapped-b64"),
    ],
)
def test_other_key_forms_sign_the_same(key_text):
    vector = VECTORS["vectors"][1]
    assert ("RSA PRIVATE KEY" in key_text) == key_text.startswith("-----BEGIN RSA")
    signature = sign(
        consumer_id=vector["consumer_id"], url=vector["url"], method=vector["method"],
        timestamp_ms=int(vector["timestamp"]), private_key=load_private_key(key_text),
    )
    assert signature == vector["expected_signature"]


def test_string_to_sign_has_four_lf_terminated_fields():
    text = string_to_sign(consumer_id="cid", url="https://h/p?a=1", method="post", timestamp_ms=123)
    assert text == b"cid\nhttps://h/p?a=1\nPOST\n123\n"


def test_verify_accepts_the_signature_and_rejects_any_change():
    key = load_private_key(DUMMY_KEY)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    args = {"consumer_id": "cid", "url": "http://localhost/v3/ca/orders/1/cancel", "method": "POST",
            "timestamp_ms": "1700000000000"}
    signature = sign(private_key=key, **args)
    assert verify(signature=signature, public_key=public_pem, **args)
    assert verify(signature=signature, public_key=key.public_key(), **args)
    assert not verify(signature=signature, public_key=public_pem, **{**args, "url": args["url"] + "?x=1"})
    assert not verify(signature=signature, public_key=public_pem, **{**args, "method": "GET"})
    assert not verify(signature=signature, public_key=public_pem, **{**args, "timestamp_ms": "1700000000001"})
    assert not verify(signature="not base64!", public_key=public_pem, **args)


@pytest.mark.parametrize(
    "bad_key",
    [
        pytest.param("", id="empty"),
        pytest.param("this-is-not-a-key-but-a-secret-looking-string", id="not-base64"),
        pytest.param(base64.b64encode(b"\x30\x03\x02\x01\x00" * 8).decode(), id="not-der"),
        pytest.param("-----BEGIN PRIVATE KEY-----\nAAAAsecretsecret\n-----END PRIVATE KEY-----\n", id="bad-pem"),
    ],
)
def test_unloadable_key_raises_account_error_without_the_key(bad_key):
    with pytest.raises(AccountError) as info:
        load_private_key(bad_key)
    assert info.value.code == "invalid_private_key"
    if bad_key:
        assert bad_key.strip() not in str(info.value)
        assert "secret" not in str(info.value)


def test_non_rsa_and_encrypted_keys_are_refused():
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_der = ec_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(AccountError, match="not an RSA key"):
        load_private_key(base64.b64encode(ec_der).decode())

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    encrypted = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pass-phrase"),
    ).decode()
    with pytest.raises(AccountError, match="encrypted"):
        load_private_key(encrypted)
