"""What the product knows about Walmart Canada (facts: Walmart's CA order and auth documentation)."""

from __future__ import annotations

import secrets
import uuid
from decimal import Decimal

from ..spec import CANCEL, AuthMode, CredentialField, DemoAccount, FixedReason, MarketplaceSpec
from .signing import load_private_key

AUTH_SIGNATURE, AUTH_OAUTH = "signature", "oauth"


def _private_key_check(value: str) -> None:
    load_private_key(value)  # raises AccountError, whose message never contains the key


OAUTH = AuthMode(AUTH_OAUTH, "OAuth (Global API)", (
    CredentialField("client_id", "Walmart client ID", max_length=200),
    CredentialField("client_secret", "Walmart client secret"),
))
SIGNATURE = AuthMode(
    AUTH_SIGNATURE, "Digital signature (legacy CA API)",
    (
        CredentialField("consumer_id", "Walmart consumer ID", max_length=200),
        CredentialField("channel_type", "Walmart consumer channel type", max_length=200),
        CredentialField("private_key", "Walmart private key", max_length=10_000,
                        help_text="Base64 PKCS#8 (Seller Center) or PEM.", check=_private_key_check),
    ),
    deprecation="Walmart no longer supports digital-signature auth for Canada: switch this account to OAuth "
                "(client ID and secret from Developer Portal).",
)


def _demo_signature_credentials() -> dict:
    from ...sandbox.provision import walmart_private_key_generate

    return {"auth": AUTH_SIGNATURE, "consumer_id": str(uuid.uuid4()), "channel_type": str(uuid.uuid4()),
            "private_key": walmart_private_key_generate()}


SPEC = MarketplaceSpec(
    key="walmart_ca",
    label="Walmart Canada",
    backend="cancellations.marketplaces.walmart_ca.backend.WalmartCABackend",
    currency="CAD",
    line_operations={"created": CANCEL, "acknowledged": CANCEL},
    rate_threshold=Decimal("0.03"),  # Walmart CA: the seller cancellation rate must stay under 3 %
    units_per_status=True,
    cancel_carries_amounts=False,
    fixed_reasons=(
        FixedReason("CANCEL_BY_SELLER", "Cancelled by the seller"),
        FixedReason("CUSTOMER_REQUESTED_SELLER_TO_CANCEL", "Customer asked the seller to cancel", "customer_request"),
    ),
    fallback_reason="CANCEL_BY_SELLER",
    auth_modes=(SIGNATURE, OAUTH),
    default_auth=AUTH_OAUTH,
    unnamed_auth=AUTH_SIGNATURE,  # accounts from before OAuth existed here
    auth_in_credentials=True,
    sandbox_module="cancellations.sandbox.walmart",
    sandbox_path="walmart",
    demo_accounts=(
        DemoAccount("Walmart CA (signature)", {"auth": AUTH_SIGNATURE}, _demo_signature_credentials),
        DemoAccount("Walmart CA (OAuth)", {"auth": AUTH_OAUTH},
                    lambda: {"auth": AUTH_OAUTH, "client_id": f"demo-{secrets.token_hex(6)}",
                             "client_secret": secrets.token_urlsafe(24)}),
    ),
    order_id_label="purchaseOrderId",
    line_id_label="lineNumber",
)
