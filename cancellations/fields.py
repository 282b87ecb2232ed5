"""An encrypted JSON model field (Fernet, with key rotation through MultiFernet).

Unlike some packages, a value that does not decrypt raises instead of silently returning the ciphertext.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.views.decorators.debug import sensitive_variables


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if not keys:
        # Local/embedded default only (settings refuse to start without keys when DEBUG is off).
        derived = base64.urlsafe_b64encode(hashlib.sha256(f"credentials:{secret_key}".encode()).digest())
        keys = (derived.decode(),)
    try:
        return MultiFernet([Fernet(k) for k in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(f"CREDENTIALS_ENCRYPTION_KEYS holds an invalid Fernet key: {exc}") from exc


def get_fernet() -> MultiFernet:
    return _fernet(tuple(settings.CREDENTIALS_ENCRYPTION_KEYS), settings.SECRET_KEY)


class CredentialsDecryptionError(ImproperlyConfigured):
    pass


class EncryptedJSONField(models.TextField):
    """Stores a JSON value encrypted; the database column only ever holds the Fernet token."""

    description = "Encrypted JSON"

    @sensitive_variables("value")
    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        token = get_fernet().encrypt(json.dumps(value, sort_keys=True).encode())
        return token.decode()

    @sensitive_variables("plain")
    def from_db_value(self, value: str | None, expression, connection) -> Any:
        if value is None or value == "":
            return {} if value == "" else None
        try:
            plain = get_fernet().decrypt(value.encode())
        except InvalidToken as exc:
            raise CredentialsDecryptionError(
                "Stored marketplace credentials cannot be decrypted with CREDENTIALS_ENCRYPTION_KEYS."
            ) from exc
        return json.loads(plain)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def value_to_string(self, obj: models.Model) -> str:
        return "<encrypted>"
