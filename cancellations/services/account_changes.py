"""Where an account's credentials may go, and the audit trail of who changed it.

Credentials are bound to the destination they were given for (marketplace, auth mode, host root). Changing
that destination requires giving them again in the same request; every change of the destination or of the
credentials leaves an ``AccountChange`` row naming the user (never a secret).
"""

from __future__ import annotations

from typing import Any

from ..models import AccountChange, MarketplaceAccount

REBIND_MESSAGE = ("The marketplace, host or auth mode changes: enter the credentials again in the same request. "
                  "Stored credentials are only ever sent where they were given for.")


def account_destination(account: MarketplaceAccount) -> dict[str, str]:
    return {"marketplace": account.marketplace, "auth": account.auth_mode, "base_url": account.base_url.rstrip("/")}


def credentials_rebind_required(account: MarketplaceAccount | None, destination: dict[str, str]) -> bool:
    """True when ``account`` holds credentials and ``destination`` is not where they were given for."""
    if account is None or account.pk is None or not account.credentials:
        return False
    return {**account_destination(account), **destination} != account_destination(account)


def account_change_record(*, account: MarketplaceAccount, before: dict[str, Any] | None, actor, source: str,
                          credentials_changed: bool) -> AccountChange | None:
    """Record a change of destination or credentials (None when neither changed)."""
    after = account_destination(account)
    changed = [name for name in after if before is None or before.get(name) != after[name]]
    if credentials_changed:
        changed.append("credentials")
    if not changed:
        return None
    return AccountChange.objects.create(
        account=account, actor=actor if getattr(actor, "pk", None) else None, source=source, changed=changed,
        before=before or {}, after=after, credential_keys=sorted(account.credentials or {}),
    )
