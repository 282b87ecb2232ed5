"""The "Cancel on marketplace" confirmation page: preview, recalculate, confirm.

GET ``?ids=1,2,3`` shows what would be cancelled (grouped per account, amounts, what is not cancellable and
why, the seller cancellation rate before and after). POST with ``_recalculate`` previews again with the
edited quantities and reasons; POST with ``_confirm`` asks the service for the cancellations. The page carries
a ``request_id`` token issued and signed on GET for this user and these lines (``request_identity``), so
submitting twice creates nothing new and no client can choose or reuse another request's identity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode

from ..marketplaces.registry import spec_for
from ..models import Cancellation, CancellationReason, MarketplaceAccount, MarketplaceReason, OrderLine
from ..selectors import reason_choices
from ..selectors.dashboard import RateInfo, account_cancellation_rate
from ..services import (
    CancellationRequestError,
    LineError,
    LineRequest,
    PreviewLine,
    cancellation_preview,
    cancellation_request,
)
from ..services.cancellation_request import MAX_LINES_PER_REQUEST
from ..services.request_identity import RequestTokenError, admin_request_id, admin_request_token_issue

MAX_ID = 2**63 - 1

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

PERMISSION = "cancellations.request_cancellation"
TEMPLATE = "admin/cancellations/cancel_confirm.html"
CORRECTABLE_FIELDS = ("quantity", "reason")
REASON_REQUIRED = "A reason is required."  # the service's message for a line with no reason at all


def cancel_confirm_url(line_ids) -> str:
    ids = ",".join(str(pk) for pk in sorted(set(line_ids)))
    return f"{reverse('admin:cancellations_orderline_cancel')}?{urlencode({'ids': ids})}"


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


def _parse_ids(raw: str) -> list[int] | None:
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    if not parts or not all(part.isascii() and part.isdigit() and len(part) <= 19 for part in parts):
        return None
    ids = [int(part) for part in parts]
    return list(dict.fromkeys(ids)) if all(0 < i <= MAX_ID for i in ids) else None


def _quantity(raw: str) -> int | None | str:
    """The typed quantity: an int, None when left empty, or an error message."""
    raw = (raw or "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:  # '²' passes isdigit() but not int()
        return "Enter a whole number (0 leaves the line out)."
    return int(raw)


def cancel_confirm_view(request: HttpRequest, model_admin: ModelAdmin) -> HttpResponse:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied("You may not request cancellations.")
    data = request.POST if request.method == "POST" else request.GET
    raw_ids = data.get("ids", "")
    ids = _parse_ids(raw_ids)
    if ids is None and raw_ids.strip(" ,"):  # not a selection the list could have made: a crafted URL
        return HttpResponseBadRequest("ids: a comma-separated list of order line ids (whole numbers from 1 to "
                                      f"{MAX_ID}) was expected.", content_type="text/plain; charset=utf-8")
    if ids is None or len(ids) > MAX_LINES_PER_REQUEST:
        model_admin.message_user(
            request, f"Select between 1 and {MAX_LINES_PER_REQUEST} order lines to cancel.", messages.WARNING
        )
        return HttpResponseRedirect(reverse("admin:cancellations_orderline_changelist"))

    if request.method != "POST":
        return _render(request, model_admin, ids=ids,
                       request_id=admin_request_token_issue(user=request.user, line_ids=ids))

    token = request.POST.get("request_id", "")
    try:
        request_id = admin_request_id(token=token, user=request.user, line_ids=ids)
    except RequestTokenError as exc:
        return HttpResponseBadRequest(str(exc))
    if "_confirm" not in request.POST:
        return _render(request, model_admin, ids=ids, request_id=token)

    line_requests, input_errors = _line_requests(request.POST, ids)
    if input_errors or not line_requests:
        extra = [] if line_requests else [LineError(None, "lines", "Every line is left out: nothing to cancel.")]
        return _render(request, model_admin, ids=ids, request_id=token,
                       errors=input_errors + extra)
    repeated = Cancellation.objects.filter(request_id=request_id).exists()
    try:
        created = cancellation_request(
            lines=line_requests, reason=request.POST.get("reason", ""), note=request.POST.get("note", "").strip(),
            user=request.user, source="admin", request_id=request_id,
            accept_others=request.POST.get("accept_other_lines") == "on",
        )
    except CancellationRequestError as exc:
        return _render(request, model_admin, ids=ids, request_id=token,
                       errors=exc.errors)

    accounts = {c.account_id for c in created}
    if repeated:
        text = f"This request was already submitted: showing its {len(created)} cancellation(s); nothing new created."
    else:
        text = (f"Requested {len(created)} cancellation(s) on {len(accounts)} marketplace account(s). "
                "They are sent to the marketplace in the background.")
    model_admin.message_user(request, text, messages.SUCCESS)
    changelist = reverse("admin:cancellations_cancellation_changelist")
    return HttpResponseRedirect(f"{changelist}?{urlencode({'request_id': str(request_id)})}")


def _reason_labels(accounts) -> dict[tuple[int, str], str]:
    """(account id, marketplace code) -> the marketplace's label: synced reasons, then the spec's fixed ones."""
    accounts = list(accounts)
    labels = {(a.pk, r.code): r.label for a in accounts for r in spec_for(a.marketplace).fixed_reasons}
    for account_id, code, label in MarketplaceReason.objects.filter(
            account__in=accounts).values_list("account_id", "code", "label"):
        if label:
            labels[(account_id, code)] = label
    return labels


def _line_requests(post, ids: list[int]) -> tuple[list[LineRequest], list[LineError]]:
    """What the form asks for; lines with quantity 0 are left out."""
    requests, errors = [], []
    for pk in ids:
        quantity = _quantity(post.get(f"quantity-{pk}", ""))
        if isinstance(quantity, str):
            errors.append(LineError(pk, "quantity", quantity))
            continue
        if quantity == 0:
            continue
        requests.append(LineRequest(line_id=pk, quantity=quantity, reason=post.get(f"reason-{pk}") or None))
    return requests, errors


def _render(request: HttpRequest, model_admin: ModelAdmin, *, ids: list[int], request_id: str,
            errors: list[LineError] = ()) -> TemplateResponse:
    post = request.POST if request.method == "POST" else {}
    reason = post.get("reason", "")
    typed = {pk: _quantity(post.get(f"quantity-{pk}", "")) for pk in ids}
    facts = {pk: (account_id, held) for pk, account_id, held in OrderLine.objects.with_in_flight()
             .filter(pk__in=ids).values_list("pk", "order__account_id", "in_flight_quantity")}
    accounts = MarketplaceAccount.objects.in_bulk({account_id for account_id, _ in facts.values()})
    choices = {pk: reason_choices(account) for pk, account in accounts.items()}

    # Price every line, a left-out or mistyped one at its full quantity, so that all stay on the page; a line
    # with no reason chosen yet is priced too (amounts do not depend on the reason).
    preview = cancellation_preview(
        lines=[LineRequest(line_id=pk, quantity=q if isinstance(q, int) and q > 0 else None,
                           reason=post.get(f"reason-{pk}") or None) for pk, q in typed.items()],
        reason=reason, accept_others=post.get("accept_other_lines") == "on",
    )
    # A reason missing everywhere is flagged once, at the reason field, not on every line.
    unreasoned = {pk for pk in ids if not post.get(f"reason-{pk}")} if not reason else set()
    reason_errors = []
    by_line: dict[int | None, list[str]] = {}
    for e in list(errors) + [e for e in preview.errors if e not in errors]:
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
                quantity_input=post.get(f"quantity-{line.pk}", str(pl.quantity)),
                reason_input=post.get(f"reason-{line.pk}", ""),
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
    opts = OrderLine._meta
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Cancel on marketplace",
        "opts": opts,
        "app_label": opts.app_label,
        "groups": groups,
        "ids": ",".join(str(pk) for pk in ids),
        "request_id": str(request_id),
        "reason": reason,
        "note": post.get("note", ""),
        "normalised_reasons": CancellationReason.choices,
        "general_errors": general_errors,
        "reason_errors": reason_errors,
        "has_cancellable": any(r.included for g in groups for r in g.rows),
        "any_refusal": any(pl.refuses for g in preview.groups for pl in g.lines),
        "accept_other_lines": post.get("accept_other_lines") == "on",
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, TEMPLATE, context)
