"""The reason book: the reasons of several accounts, read in one query, to resolve what a request names."""

from __future__ import annotations

from collections.abc import Iterable

from ..models import CancellationReason, MarketplaceAccount, MarketplaceReason


class ReasonBook:
    """The reasons of several accounts, loaded in one query, to resolve what a request names."""

    def __init__(self, account_ids: Iterable[int]) -> None:
        self.by_account: dict[int, list[MarketplaceReason]] = {}
        for r in MarketplaceReason.objects.filter(account_id__in=set(account_ids), active=True):
            self.by_account.setdefault(r.account_id, []).append(r)

    def resolve(self, account: MarketplaceAccount, reason: str) -> tuple[str, str] | None:
        """(marketplace code, normalised reason) for ``reason`` on ``account``, or None if not valid there."""
        spec = account.spec
        rows = self.by_account.get(account.pk, [])
        by_code = {r.code: r for r in rows}
        if reason in by_code:
            return reason, by_code[reason].normalised or ""
        if reason in spec.fixed_reason_codes() and not rows:  # documented codes work before any sync
            return reason, spec.fixed_normalised(reason)
        if reason in CancellationReason.values:
            mapped = next((r for r in rows if r.normalised == reason), None)
            if mapped is not None:
                return mapped.code, reason
            code = spec.code_for_normalised(reason)
            if code:
                return code, reason
        return None

    def choices(self, account: MarketplaceAccount) -> list[tuple[str, str]]:
        normalised = [(value, f"{label} (normalised)") for value, label in CancellationReason.choices
                      if self.resolve(account, value) is not None]
        own = [(r.code, f"{r.label or r.code} [{r.code}]") for r in self.by_account.get(account.pk, [])]
        if not own:
            own = [(code, code) for code in account.spec.fixed_reason_codes()]
        return normalised + own
