"""Register marketplace accounts with the sandbox (used by the demo and the tests)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .models import SandboxSeller, secret_digest
from .walmart_wire import public_key_pem


def walmart_private_key_generate() -> str:
    """A fresh RSA key as Walmart hands it out: base64 PKCS#8 DER, no PEM armour."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    import base64

    return base64.b64encode(der).decode()


def seller_register(*, marketplace: str, credentials: Mapping[str, Any], options: Mapping[str, Any]) -> SandboxSeller:
    """Create or update the sandbox seller that accepts these credentials."""
    walmart = marketplace in ("walmart_ca", "walmart_us")
    if walmart and (marketplace == "walmart_us" or credentials.get("auth", options.get("auth")) == "oauth"):
        identifier = credentials["client_id"]
        defaults = {"secret_sha256": secret_digest(credentials["client_secret"]), "public_key_pem": ""}
    elif walmart:
        identifier = credentials["consumer_id"]
        defaults = {"public_key_pem": public_key_pem(credentials["private_key"]), "secret_sha256": ""}
    elif marketplace == "mirakl":
        identifier = f"shop-{options.get('shop_id') or 'default'}-{secret_digest(credentials['api_key'])[:12]}"
        defaults = {"secret_sha256": secret_digest(credentials["api_key"]), "shop_id": str(options.get("shop_id", ""))}
    else:
        raise ValueError(f"unknown marketplace {marketplace!r}")
    seller, _ = SandboxSeller.objects.update_or_create(
        marketplace=marketplace, identifier=identifier, defaults=defaults
    )
    return seller
