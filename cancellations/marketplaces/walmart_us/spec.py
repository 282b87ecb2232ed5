"""What the product knows about Walmart US (facts: Walmart's US Marketplace orders and auth documentation).

The Global API with ``WM_MARKET: us`` and OAuth client credentials only; amounts in USD; the seller
cancellation rate must stay under 2 %. Its cancel reasons are the US ones (``CANCEL_BY_SELLER`` is Canada's).
"""

from __future__ import annotations

import secrets
from decimal import Decimal

from ..spec import CANCEL, AuthMode, CredentialField, DemoAccount, FixedReason, MarketplaceSpec

SPEC = MarketplaceSpec(
    key="walmart_us",
    label="Walmart US",
    backend="cancellations.marketplaces.walmart_us.backend.WalmartUSBackend",
    currency="USD",
    line_operations={"created": CANCEL, "acknowledged": CANCEL},
    rate_threshold=Decimal("0.02"),
    units_per_status=True,
    fixed_reasons=(
        FixedReason("CUSTOMER_REQUESTED_SELLER_TO_CANCEL", "Customer asked the seller to cancel", "customer_request"),
        FixedReason("SELLER_CANCEL_PRICING_ERROR", "Pricing error", "pricing_error"),
        FixedReason("SELLER_CANCEL_OUT_OF_STOCK", "Out of stock", "out_of_stock"),
        FixedReason("SELLER_CANCEL_FRAUD_STOP_SHIPMENT", "Fraud: stop the shipment", "fraud_suspicion"),
        FixedReason("SELLER_CANCEL_ADDRESS_NOT_SERVICEABLE", "Address not serviceable", "cannot_ship"),
    ),
    auth_modes=(AuthMode("oauth", "OAuth (Global API)", (
        CredentialField("client_id", "Walmart client ID", max_length=200),
        CredentialField("client_secret", "Walmart client secret"),
    )),),
    default_auth="oauth",
    auth_in_credentials=True,
    sandbox_module="cancellations.sandbox.walmart",
    sandbox_path="walmart",
    demo_accounts=(
        DemoAccount("Walmart US (OAuth)", {}, lambda: {"auth": "oauth", "client_id": f"demo-us-{secrets.token_hex(6)}",
                                                       "client_secret": secrets.token_urlsafe(24)}),
    ),
    order_id_label="purchaseOrderId",
    line_id_label="lineNumber",
)
