"""Masking of secrets in anything we store or log about a marketplace exchange."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from django.views.decorators.debug import sensitive_variables

MASK = "***"
# Header names whose values are secrets (compared case-insensitively).
SECRET_HEADERS = frozenset(
    h.lower()
    for h in (
        "Authorization",
        "WM_SEC.AUTH_SIGNATURE",
        "WM_SEC.ACCESS_TOKEN",
        "Proxy-Authorization",
        "Cookie",
        "Set-Cookie",
    )
)
# JSON/form keys whose values are secrets.
SECRET_KEYS = ("access_token", "client_secret", "private_key", "api_key", "password", "refresh_token")
_KEY_PATTERN = "|".join(SECRET_KEYS)
_JSON_SECRET = re.compile(rf'("(?:{_KEY_PATTERN})"\s*:\s*")([^"]*)(")', re.IGNORECASE)
_FORM_SECRET = re.compile(rf"((?:^|&)(?:{_KEY_PATTERN})=)([^&]*)", re.IGNORECASE)
_XML_SECRET = re.compile(rf"(<(?:\w+:)?(?:accessToken|{_KEY_PATTERN})>)([^<]*)(</)", re.IGNORECASE)


def mask_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {k: (MASK if k.lower() in SECRET_HEADERS else str(v)) for k, v in (headers or {}).items()}


@sensitive_variables("secrets")
def mask_text(text: str | bytes | None, secrets: Iterable[str] = ()) -> str:
    """Mask known secret fields and any literal occurrence of the given secret values."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = _JSON_SECRET.sub(rf"\g<1>{MASK}\g<3>", text)
    text = _FORM_SECRET.sub(rf"\g<1>{MASK}", text)
    text = _XML_SECRET.sub(rf"\g<1>{MASK}\g<3>", text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    return text
