"""What the product knows about Mirakl-powered marketplaces (facts: the Mirakl seller API, OR11/OR30/RE01)."""

from __future__ import annotations

import secrets
from decimal import Decimal

from ..spec import CANCEL, REFUSE, AuthMode, CredentialField, DemoAccount, MarketplaceSpec, OptionField

TAX_MODES = ("TAX_EXCLUDED", "TAX_INCLUDED")

SPEC = MarketplaceSpec(
    key="mirakl",
    label="Mirakl",
    backend="cancellations.marketplaces.mirakl.backend.MiraklBackend",
    currency="CAD",
    # Not yet accepted: refused whole (OR21). Not yet debited or shipped: cancelled (OR30, or OR29 for whole
    # orders). SHIPPED, TO_COLLECT, RECEIVED, CLOSED, REFUSED, CANCELED...: nothing (a refund is another matter).
    cancelled_line_status="CANCELED",
    line_operations={"waiting_acceptance": REFUSE, "waiting_debit": CANCEL, "waiting_debit_payment": CANCEL,
                     "shipping": CANCEL},
    rate_threshold=Decimal("0.02"),
    cancel_carries_amounts=True,
    auth_modes=(AuthMode("api_key", "Shop API key", (CredentialField("api_key", "Mirakl API key"),)),),
    default_auth="api_key",
    options=(
        OptionField("shop_id", "Shop ID", help_text="Sent on every call when set (the key's default shop "
                                                    "otherwise).", integer_ok=True),
        OptionField("tax_mode", "Order tax mode", help_text="Only orders in this tax mode are synced.",
                    choices=TAX_MODES),
        OptionField("partial_cancelation_off", "Shop partial cancelation off",
                    help_text="Tick when the operator has not enabled shop partial cancelation: only whole orders "
                              "can be cancelled (OR29), and a partial request is refused.", boolean=True),
        OptionField("partial_acceptance", "Partial acceptance allowed",
                    help_text="Allows refusing some waiting lines of an order while accepting the others in the "
                              "same call (OR21), when the request asks for it.", boolean=True),
    ),
    whole_order_option="partial_cancelation_off",
    partial_acceptance_option="partial_acceptance",
    sandbox_module="cancellations.sandbox.mirakl",
    sandbox_path="mirakl",
    demo_accounts=(
        DemoAccount("Best Buy CA (Mirakl)", {"shop_id": "2001"}, lambda: {"api_key": secrets.token_urlsafe(24)}),
    ),
    order_id_label="order_id",
    line_id_label="order_line_id",
)
