"""Walmart's legacy "digital signature" (WM_SEC.AUTH_SIGNATURE).

The string signed is ``consumerId\\nURL\\nMETHOD\\ntimestamp\\n`` (four fields, each ending in a line feed),
with SHA256withRSA (PKCS#1 v1.5) and the seller's RSA key; the result is standard base64. The URL must be
byte-identical to the one sent, query string included; the body is not signed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
from collections import OrderedDict

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from django.views.decorators.debug import sensitive_variables

from ..base import AccountError

_KEY_HELP = (
    "expected the base64 PKCS#8 key from Seller Center, or a PEM key "
    "('BEGIN PRIVATE KEY' or 'BEGIN RSA PRIVATE KEY', unencrypted)"
)


@sensitive_variables("key", "text", "der", "loaded")
def load_private_key(key: str) -> RSAPrivateKey:
    """Load an RSA private key given as raw base64 DER (Walmart's format), PEM PKCS#8 or PEM PKCS#1.

    Raises ``AccountError``; the message never contains the key itself.
    """
    text = (key or "").strip()
    if not text:
        raise AccountError("The Walmart private key is empty", code="invalid_private_key")
    try:
        if text.startswith("-----BEGIN"):
            loaded = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        else:
            der = base64.b64decode("".join(text.split()), validate=True)
            loaded = serialization.load_der_private_key(der, password=None)
    except TypeError:
        # cryptography raises TypeError for a key that needs a password.
        raise AccountError(
            "The Walmart private key is encrypted; provide it unencrypted", code="invalid_private_key"
        ) from None
    except (ValueError, binascii.Error, UnicodeEncodeError, UnsupportedAlgorithm):
        raise AccountError(
            f"The Walmart private key could not be loaded: {_KEY_HELP}", code="invalid_private_key"
        ) from None
    if not isinstance(loaded, RSAPrivateKey):
        raise AccountError("The Walmart private key is not an RSA key", code="invalid_private_key")
    return loaded


class _ParsedKeys:
    """Parsed keys by a digest of their text, so each distinct key is parsed once per process.

    Parsing (with RSA key validation) costs about 50 ms, a signature about 2 ms: without this every call paid for
    a parse. Keyed by the text's SHA-256, a changed key is a new entry and is used at once; the text itself is not
    kept. The oldest entries go beyond ``size`` accounts' worth.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._keys: OrderedDict[bytes, RSAPrivateKey] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> RSAPrivateKey:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
        with self._lock:
            loaded = self._keys.get(digest)
            if loaded is not None:
                self._keys.move_to_end(digest)
                return loaded
        loaded = load_private_key(key)  # outside the lock: a slow parse holds no other account back
        with self._lock:
            self._keys[digest] = loaded
            while len(self._keys) > self.size:
                self._keys.popitem(last=False)
        return loaded

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()


_PARSED_KEYS = _ParsedKeys()


def private_key_cached(key: str) -> RSAPrivateKey:
    """``load_private_key`` for a key text, parsed once per process and key (see ``_ParsedKeys``)."""
    return _PARSED_KEYS.get(key)


def string_to_sign(*, consumer_id: str, url: str, method: str, timestamp_ms: int | str) -> bytes:
    return f"{consumer_id}\n{url}\n{method.upper()}\n{timestamp_ms}\n".encode()


@sensitive_variables("private_key", "key")
def sign(
    *, consumer_id: str, url: str, method: str, timestamp_ms: int | str, private_key: RSAPrivateKey | str
) -> str:
    """The ``WM_SEC.AUTH_SIGNATURE`` value for one request."""
    key = load_private_key(private_key) if isinstance(private_key, str) else private_key
    message = string_to_sign(consumer_id=consumer_id, url=url, method=method, timestamp_ms=timestamp_ms)
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")


def verify(
    *, consumer_id: str, url: str, method: str, timestamp_ms: int | str, signature: str,
    public_key: RSAPublicKey | str,
) -> bool:
    """True when ``signature`` signs this request with the key paired with ``public_key`` (PEM or object)."""
    if isinstance(public_key, str):
        loaded = serialization.load_pem_public_key(public_key.encode("ascii"))
        if not isinstance(loaded, RSAPublicKey):
            return False
        public_key = loaded
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    message = string_to_sign(consumer_id=consumer_id, url=url, method=method, timestamp_ms=timestamp_ms)
    try:
        public_key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True
