"""Test an account's connection: one cheap read call through its backend, and the next step when it fails."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from ..marketplaces.base import AccountError, ConfigurationError, MarketplaceError, TransientError
from ..marketplaces.registry import get_backend, spec_for
from ..models import MarketplaceAccount
from .call_recording import CallRecorder
from .events import account_error_record


def account_next_step(account: MarketplaceAccount, exc: MarketplaceError) -> str:
    """What a person should do about ``exc`` on ``account`` (which credential to check, what to fix)."""
    spec = spec_for(account.marketplace)
    mode = spec.auth_mode(account.auth_mode) or (spec.auth_modes[0] if spec.auth_modes else None)
    labels = [f.label for f in mode.fields] if mode else []
    credentials = (", ".join(labels[:-1]) + " and " + labels[-1]) if len(labels) > 1 else (
        labels[0] if labels else "credentials")
    how = f" ({mode.label})" if mode and spec.has_auth_choice else ""
    if isinstance(exc, ConfigurationError):
        return "Next step: fix the account's settings (base URL, auth mode) and test again."
    if exc.status_code == 403:
        return (f"Next step: the marketplace knows these credentials but refuses this shop: check that the "
                f"{credentials}{how} belong to this seller account and have API access.")
    if isinstance(exc, AccountError):
        return f"Next step: check the {credentials}{how} and enter them again in the account form."
    if exc.throttled:
        return "Next step: the marketplace is rate limiting this account; test again in a minute."
    if isinstance(exc, TransientError) and exc.status_code is None:
        return f"Next step: {account.base_url} could not be reached; check the base URL, then test again."
    if isinstance(exc, TransientError):
        return "Next step: the marketplace had a server error; test again later."
    return "Next step: read the marketplace's message above; the account's settings may not match the seller's."


def account_connection_test(*, account: MarketplaceAccount) -> tuple[bool, str]:
    """Make one cheap read call; store and return (ok, what it found or what failed with the next step).

    The exchange is recorded like every other call (Marketplace calls, operation as the backend names it).
    """
    account_problem = False
    try:
        with get_backend(account, on_exchange=CallRecorder(account=account).record) as backend:
            result, ok = backend.connection_test(), True
    except MarketplaceError as exc:
        where = f"HTTP {exc.status_code} " if exc.status_code else ""
        result, ok = f"Failed: {where}{exc.summary(300)}. {account_next_step(account, exc)}", False
        account_problem = isinstance(exc, AccountError)
    with transaction.atomic():
        MarketplaceAccount.objects.filter(pk=account.pk).update(
            connection_checked_at=timezone.now(), connection_result=result[:1000])
        if account_problem:  # shown on the account, with its event and alert, like a failed sync
            account_error_record(account_id=account.pk, error=f"Connection test: {result}")
    return ok, result
