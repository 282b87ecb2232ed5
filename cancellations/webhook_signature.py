"""The ``Backoffice-Signature`` header: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``.

Pure functions (no Django), so a receiver can copy them; the README shows the same check in a few lines.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "Backoffice-Signature"


def signature_compute(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={signature_compute(secret, t, body)}"


def signature_verify(secret: str, body: bytes, header: str, *, tolerance: int = 300,
                     now: float | None = None) -> bool:
    """True when one ``v1`` matches and ``t`` is within ``tolerance`` seconds of now (replays refused)."""
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [v for k, v in parts if k.strip() == "t"]
    if len(stamps) != 1 or not stamps[0].strip().isdigit():
        return False
    t = int(stamps[0])
    if abs((time.time() if now is None else now) - t) > tolerance:
        return False
    expected = signature_compute(secret, t, body)
    return any(k.strip() == "v1" and hmac.compare_digest(v.strip(), expected) for k, v in parts)
