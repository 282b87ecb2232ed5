"""Template helpers for the admin pages: percentages, refund totals and the dashboard panel."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.urls import reverse
from django.utils.http import urlencode

from ..admin.display import STATUS_COLOURS
from ..dashboard import dashboard_summaries
from ..pricing import CancelAmounts

register = template.Library()
DASHBOARD_PERMISSION = "cancellations.view_cancellation"


@register.filter
def percent(value: Decimal | None) -> str:
    """0.0312 -> '3.12 %'."""
    if value is None:
        return "—"
    return f"{(Decimal(value) * 100).quantize(Decimal('0.01'))} %"


@register.filter
def total_in(amounts: CancelAmounts, tax_mode: str) -> Decimal:
    return amounts.total_in(tax_mode)


@register.filter
def bar_width(part: int, whole: int) -> str:
    """A CSS percentage width for ``part`` of ``whole``."""
    return f"{(100 * part / whole):.1f}%" if whole else "0%"


@register.simple_tag
def cancellations_url(**params) -> str:
    """The cancellation changelist filtered by ``params`` (e.g. account__id__exact=1, status__exact=failed)."""
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"{reverse('admin:cancellations_cancellation_changelist')}?{query}" if query else reverse(
        "admin:cancellations_cancellation_changelist"
    )


@register.inclusion_tag("admin/cancellations/dashboard_panel.html", takes_context=True)
def cancellations_dashboard(context) -> dict:
    """The operations dashboard, for users who may see cancellations (six queries whatever the data)."""
    request = context.get("request")
    if request is None or not request.user.has_perm(DASHBOARD_PERMISSION):
        return {"visible": False}
    summaries = dashboard_summaries()
    return {
        "visible": True,
        "summaries": summaries,
        "max_total": max((s.total for s in summaries), default=0),
        "inventory_url": reverse("admin:cancellations_inventoryadjustment_changelist") + "?pending=yes",
    }


@register.filter
def status_colour(status: str) -> str:
    return STATUS_COLOURS.get(status, "#6c757d")


@register.filter
def rate_scale(rate: Decimal, threshold: Decimal) -> str:
    """Width of a rate bar on a scale that runs to twice the threshold (capped at 100%)."""
    top = (threshold or Decimal("0.05")) * 2
    return f"{min(Decimal(100) * Decimal(rate) / top, Decimal(100)):.1f}%"
