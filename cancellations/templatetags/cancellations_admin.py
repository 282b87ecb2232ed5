"""Template helpers for the admin pages: percentages, refund totals and the dashboard panel."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from ..admin.display import STATUS_COLOURS
from ..admin.display import status_badge as display_status_badge
from ..pricing import CancelAmounts
from ..selectors.dashboard import RateTrend, attention_queue, dashboard_summaries, rate_trends

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
    trends = rate_trends()
    for summary in summaries:
        summary.trend = trends.get(summary.account.pk)
    return {
        "visible": True,
        "summaries": summaries,
        "queue": attention_queue(),
        "can_take": request.user.has_perm("cancellations.request_cancellation"),
        "max_total": max((s.total for s in summaries), default=0),
        "inventory_url": reverse("admin:cancellations_inventoryadjustment_changelist") + "?pending=yes",
    }


@register.filter
def status_badge(status: str, label: str) -> str:
    return display_status_badge(status, label)


@register.filter
def status_colour(status: str) -> str:
    return STATUS_COLOURS.get(status, "#6c757d")


@register.simple_tag
def rate_chart(trend: RateTrend | None, width: int = 420, height: int = 72) -> str:
    """The rolling 30-day rate over 90 days as an inline SVG line, with the threshold as a dashed line."""
    if trend is None or not trend.points:
        return ""
    top = max(trend.threshold * Decimal("1.5"), trend.peak * Decimal("1.1"), Decimal("0.01"))
    pad, n = 4, len(trend.points)

    def x(i: int) -> float:
        return pad + (width - 2 * pad) * i / max(n - 1, 1)

    def y(rate: Decimal) -> float:
        return height - pad - float((height - 2 * pad) * min(rate / top, Decimal(1)))

    over = trend.points[-1][1] >= trend.threshold
    line = " ".join(f"{x(i):.1f},{y(rate):.1f}" for i, (_, rate) in enumerate(trend.points))
    dots = format_html_join("", '<circle cx="{}" cy="{}" r="1.8"><title>{}: {}</title></circle>', (
        (f"{x(i):.1f}", f"{y(rate):.1f}", day.isoformat(), percent(rate))
        for i, (day, rate) in enumerate(trend.points)))
    ty = y(trend.threshold)
    return format_html(
        '<svg class="rate-trend" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{label}">'
        '<rect x="0" y="0" width="{w}" height="{h}" fill="var(--darkened-bg, #f6f6f6)" rx="3"/>'
        '<line x1="{p}" x2="{xe}" y1="{ty}" y2="{ty}" stroke="#dc3545" stroke-dasharray="4 3"/>'
        '<text x="{xe}" y="{tty}" text-anchor="end" font-size="10" fill="#dc3545">threshold {thr}</text>'
        '<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/><g fill="{colour}">{dots}</g>'
        "</svg>",
        w=width, h=height, p=pad, xe=width - pad, ty=f"{ty:.1f}", tty=f"{max(ty - 3, 10):.1f}",
        thr=percent(trend.threshold),
        line=line, colour="#dc3545" if over else "#198754", dots=dots,
        label=f"30-day cancellation rate over the last 90 days, now {percent(trend.points[-1][1])}, "
              f"threshold {percent(trend.threshold)}",
    )
