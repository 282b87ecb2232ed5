"""Cancellation reasons: the marketplace's own codes and the normalised vocabulary mapped onto them.

The read side (``ReasonBook``: resolving what a request names, the choices a form offers) is a selector:
``cancellations.selectors.reasons``.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from ..marketplaces.base import Reason
from ..models import CancellationReason, MarketplaceAccount, MarketplaceReason

# Words in a marketplace's reason label that suggest a normalised reason (first match wins).
_LABEL_HINTS = (
    (CancellationReason.OUT_OF_STOCK, ("stock", "unavailable", "rupture")),
    (CancellationReason.CUSTOMER_REQUEST, ("customer", "client", "buyer")),
    (CancellationReason.PRICING_ERROR, ("price", "pricing")),
    (CancellationReason.FRAUD_SUSPICION, ("fraud",)),
    (CancellationReason.CANNOT_SHIP, ("address", "deliver", "ship")),
)


def normalised_guess(code: str, label: str) -> str:
    text = f"{code} {label}".lower()
    for reason, words in _LABEL_HINTS:
        if any(w in text for w in words):
            return reason
    return ""


def reasons_refresh(*, account: MarketplaceAccount, reasons: Iterable[Reason]) -> int:
    """Upsert the account's reasons; codes no longer offered become inactive. Keeps ops' mappings."""
    now = timezone.now()
    existing = {r.code: r for r in MarketplaceReason.objects.filter(account=account)}
    seen = set()
    for reason in reasons:
        seen.add(reason.code)
        row = existing.get(reason.code)
        if row is None:
            MarketplaceReason.objects.create(
                account=account, code=reason.code, label=reason.label, active=True, synced_at=now,
                normalised=_default_normalised(account, reason),
            )
        elif row.label != reason.label or not row.active:
            row.label, row.active, row.synced_at = reason.label, True, now
            row.save(update_fields=["label", "active", "synced_at"])
    MarketplaceReason.objects.filter(account=account, active=True).exclude(code__in=seen).update(active=False)
    return len(seen)


def _default_normalised(account: MarketplaceAccount, reason: Reason) -> str:
    """A documented code means what its spec says; a listed one is guessed from its words."""
    spec = account.spec
    if reason.code in spec.fixed_reason_codes():
        return spec.fixed_normalised(reason.code)
    return normalised_guess(reason.code, reason.label)


def restock_for(normalised_reason: str) -> bool:
    """Cancelled units go back to stock, except when the reason is that there is no stock."""
    return normalised_reason != CancellationReason.OUT_OF_STOCK
