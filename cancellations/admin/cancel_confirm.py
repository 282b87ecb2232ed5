"""The "Cancel on marketplace" confirmation page: preview, recalculate, confirm.

GET ``?ids=1,2,3`` shows what would be cancelled (grouped per account, amounts, what is not cancellable and
why, the seller cancellation rate before and after). POST with ``_recalculate`` previews again with the
edited quantities and reasons; POST with ``_confirm`` asks the service for the cancellations. The page carries
a ``request_id`` token issued and signed on GET for this user and these lines (``request_identity``), so
submitting twice creates nothing new and no client can choose or reuse another request's identity.

This module parses the request and renders; what the page shows is read by
``cancellations.selectors.cancel_confirmation``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode

from ..models import Cancellation, CancellationReason, OrderLine
from ..selectors.cancel_confirmation import cancel_confirmation
from ..services import (
    CancellationRequestError,
    LineError,
    LineRequest,
    cancellation_request,
)
from ..services.cancellation_request import MAX_LINES_PER_REQUEST
from ..services.request_identity import RequestTokenError, admin_request_id, admin_request_token_issue

MAX_ID = 2**63 - 1

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

PERMISSION = "cancellations.request_cancellation"
TEMPLATE = "admin/cancellations/cancel_confirm.html"


def cancel_confirm_url(line_ids) -> str:
    ids = ",".join(str(pk) for pk in sorted(set(line_ids)))
    return f"{reverse('admin:cancellations_orderline_cancel')}?{urlencode({'ids': ids})}"


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
    page = cancel_confirmation(
        ids=ids, reason=reason,
        typed={pk: _quantity(post.get(f"quantity-{pk}", "")) for pk in ids},
        quantity_inputs={pk: post.get(f"quantity-{pk}") for pk in ids if f"quantity-{pk}" in post},
        reason_inputs={pk: post.get(f"reason-{pk}", "") for pk in ids},
        accept_others=post.get("accept_other_lines") == "on", errors=errors,
    )
    opts = OrderLine._meta
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Cancel on marketplace",
        "opts": opts,
        "app_label": opts.app_label,
        "groups": page.groups,
        "ids": ",".join(str(pk) for pk in ids),
        "request_id": str(request_id),
        "reason": reason,
        "note": post.get("note", ""),
        "normalised_reasons": CancellationReason.choices,
        "general_errors": page.general_errors,
        "reason_errors": page.reason_errors,
        "has_cancellable": page.has_cancellable,
        "any_refusal": page.any_refusal,
        "accept_other_lines": post.get("accept_other_lines") == "on",
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, TEMPLATE, context)
