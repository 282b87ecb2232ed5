"""The "Cancel on marketplace" confirmation page's read: the lines, their accounts, reasons, prices and rates.

The view parses the request and renders; this builds what the page shows from the parsed input: per account,
the rows that would be cancelled, the lines that cannot be and why, the reasons offered and the seller
cancellation rate before and after.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..marketplaces.registry import spec_for
from ..models import MarketplaceAccount, MarketplaceReason, OrderLine
from ..services import LineError, LineRequest, PreviewLine, cancellation_preview
from . import reason_choices
from .dashboard import RateInfo, account_cancellation_rate

CORRECTABLE_FIELDS = ("quantity", "reason")
REASON_REQUIRED = "A reason is required."  # the service's message for a line with no reason at all


@dataclass
class LineRow:
    """One line as the page shows it: the preview, what the user typed and the errors about it."""

    preview: PreviewLine
    cancellable: int
    included: bool = True
    quantity_input: str = ""
    reason_input: str = ""
    reason_label: str = ""  # the marketplace's label of the code that would be sent
    errors: list[str] = field(default_factory=list)

    @property
    def line(self) -> OrderLine:
        return self.preview.line


@dataclass
class AccountGroup:
    account: MarketplaceAccount
    rows: list[LineRow]
    not_cancellable: list[LineRow]
    reasons: list[tuple[str, str]]
    rate: RateInfo
    #: The marketplace's spec says a cancel carries amounts (else it cancels by quantity and computes the refund).
    carries_amounts: bool = False

    @property
    def has_included(self) -> bool:
        """Something of this group would be cancelled (the rate warning only makes sense then)."""
        return any(row.included for row in self.rows)


@dataclass
class CancelConfirmation:
    """Everything the page shows besides what the user typed."""

    groups: list[AccountGroup]
    general_errors: list[str]
    reason_errors: list[str]
    any_refusal: bool

    @property
    def has_cancellable(self) -> bool:
        return any(r.included for g in self.groups for r in g.rows)


def _reason_labels(accounts) -> dict[tuple[int, str], str]:
    """(account id, marketplace code) -> the marketplace's label: synced reasons, then the spec's fixed ones."""
    accounts = list(accounts)
    labels = {(a.pk, r.code): r.label for a in accounts for r in spec_for(a.marketplace).fixed_reasons}
    for account_id, code, label in MarketplaceReason.objects.filter(
            account__in=accounts).values_list("account_id", "code", "label"):
        if label:
            labels[(account_id, code)] = label
    return labels


def cancel_confirmation(*, ids: list[int], reason: str, typed: Mapping[int, int | None | str],
                        quantity_inputs: Mapping[int, str], reason_inputs: Mapping[int, str],
                        accept_others: bool, errors: Iterable[LineError] = ()) -> CancelConfirmation:
    """The page for lines ``ids``.

    ``typed``: each line's parsed quantity (an int, None when left empty, or an error message);
    ``quantity_inputs``: the raw quantities the form sent (a line absent shows its previewed quantity);
    ``reason_inputs``: each line's chosen reason ("" for none); ``reason``: the reason for every line.
    """
    facts = {pk: (account_id, held) for pk, account_id, held in OrderLine.objects.with_in_flight()
             .filter(pk__in=ids).values_list("pk", "order__account_id", "in_flight_quantity")}
    accounts = MarketplaceAccount.objects.in_bulk({account_id for account_id, _ in facts.values()})
    choices = {pk: reason_choices(account) for pk, account in accounts.items()}

    # Price every line, a left-out or mistyped one at its full quantity, so that all stay on the page; a line
    # with no reason chosen yet is priced too (amounts do not depend on the reason).
    preview = cancellation_preview(
        lines=[LineRequest(line_id=pk, quantity=q if isinstance(q, int) and q > 0 else None,
                           reason=reason_inputs.get(pk) or None) for pk, q in typed.items()],
        reason=reason, accept_others=accept_others,
    )
    # A reason missing everywhere is flagged once, at the reason field, not on every line.
    unreasoned = {pk for pk in ids if not reason_inputs.get(pk)} if not reason else set()
    reason_errors = []
    by_line: dict[int | None, list[str]] = {}
    errors = list(errors)
    for e in errors + [e for e in preview.errors if e not in errors]:
        if e.field == "reason" and e.line in unreasoned and e.message == REASON_REQUIRED:
            reason_errors = ["Choose a reason for every line (or one per line below)."]
            continue
        by_line.setdefault(e.line, []).append(e.message)
    labels = _reason_labels(accounts.values())
    correctable = {(e.line, e.message) for e in preview.errors if e.field in CORRECTABLE_FIELDS}

    groups, shown = [], set()
    for group in preview.groups:
        rows, blocked = [], []
        for pl in group.lines:
            line = pl.line
            line.in_flight_quantity = facts[line.pk][1]  # the same rule as everywhere (OrderLine.cancellable_quantity)
            shown.add(line.pk)
            row = LineRow(
                preview=pl,
                cancellable=line.cancellable_quantity,
                included=typed[line.pk] != 0,
                quantity_input=quantity_inputs.get(line.pk, str(pl.quantity)),
                reason_input=reason_inputs.get(line.pk, ""),
                reason_label=labels.get((line.order.account_id, pl.reason_code), ""),
            )
            # A quantity or reason the user can change keeps the line editable; anything else blocks it.
            is_blocked = bool(pl.error) and not (row.cancellable and (line.pk, pl.error) in correctable)
            row.errors = [m for m in by_line.get(line.pk, []) if not (is_blocked and m == pl.error)]
            if is_blocked and not row.errors and pl.error == REASON_REQUIRED and reason_errors:
                is_blocked = False
            (blocked if is_blocked else rows).append(row)
        extra_orders = {r.line.order_id for r in rows if r.included}
        groups.append(AccountGroup(
            account=group.account, rows=rows, not_cancellable=blocked, reasons=choices[group.account.pk],
            rate=account_cancellation_rate(group.account, extra_order_ids=extra_orders),
            carries_amounts=spec_for(group.account.marketplace).cancel_carries_amounts,
        ))
    general_errors = by_line.get(None, []) + [
        f"Line {pk}: {m}" for pk, msgs in by_line.items() if pk is not None and pk not in shown for m in msgs
    ]
    return CancelConfirmation(
        groups=groups, general_errors=general_errors, reason_errors=reason_errors,
        any_refusal=any(pl.refuses for g in preview.groups for pl in g.lines),
    )
