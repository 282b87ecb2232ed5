"""Cancellations with their history and marketplace calls, the calls themselves, inventory adjustments."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.dateformat import format as date_format
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime

from ..marketplaces.registry import spec_for
from ..models import (
    AttentionNote,
    Cancellation,
    CancellationEvent,
    CancellationStatus,
    InventoryAdjustment,
    MarketplaceCall,
    MarketplaceReason,
)
from ..selectors.dashboard import needs_attention_q
from ..services import CancellationStateError, cancellation_retry, cancellation_verify_request
from .display import admin_link, body, changelist_link, http_badge, pre, shorten, status_badge
from .integrations import InventoryExportAdminMixin
from .orders import AccountColumnsMixin, ReadOnlyMixin, RequestCancellationPermissionMixin


class NeedsAttentionFilter(admin.SimpleListFilter):
    """The same parameter and values as the API's ``needs_attention`` filter."""

    title = "needs attention"
    parameter_name = "needs_attention"

    def lookups(self, request, model_admin):
        return [("true", "Needs attention"), ("false", "Fine")]

    def queryset(self, request, queryset):
        if self.value() == "true":
            return queryset.filter(needs_attention_q())
        if self.value() == "false":
            return queryset.exclude(needs_attention_q())
        return queryset


STATUS_LABELS = dict(CancellationStatus.choices)


def _events_table(events) -> str:
    rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", (
        (date_format(localtime(e.created_at), "Y-m-d H:i:s"),
         format_html("{} → {}", STATUS_LABELS.get(e.from_status, e.from_status or "—"),
                     status_badge(e.to_status, STATUS_LABELS.get(e.to_status, e.to_status))),
         e.actor or "—", e.get_source_display(), e.message or "") for e in events))
    return format_html('<table class="timeline"><thead><tr><th>When</th><th>Change</th><th>Who</th><th>From</th>'
                       "<th>Why</th></tr></thead><tbody>{}</tbody></table>", rows) if rows else "—"


def _calls_table(calls) -> str:
    rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td></tr>", (
        (admin_link(c, f"#{c.pk}"), date_format(localtime(c.created_at), "Y-m-d H:i:s"), c.operation, c.method,
         http_badge(c.status_code, c.get_state_display()),
         f"{c.duration_ms} ms" if c.duration_ms is not None else "—", shorten(c.error, 80) or "")
        for c in calls))
    return format_html('<table class="timeline"><thead><tr><th>Call</th><th>When</th><th>What</th><th>Answer</th>'
                       "<th>Took</th><th>Error</th></tr></thead><tbody>{}</tbody></table>", rows) if rows else "—"


def reason_text(c: Cancellation) -> str:
    """The marketplace's code with its label ("21 — Customer asked to cancel"), and the normalised reason."""
    label = MarketplaceReason.objects.filter(account_id=c.account_id, code=c.reason_code).values_list(
        "label", flat=True).first() or next(
        (r.label for r in spec_for(c.account.marketplace).fixed_reasons if r.code == c.reason_code), "")
    text = f"{c.reason_code} — {label}" if label else c.reason_code
    return f"{text} (normalised: {c.get_reason_display()})" if c.reason else text


@admin.register(Cancellation)
class CancellationAdmin(AccountColumnsMixin, RequestCancellationPermissionMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["status_badge", "order_link", "line_link", "quantity", "reason_short", "error_short",
                    "account_name", "updated"]
    list_display_links = ["status_badge"]
    list_filter = ["status", NeedsAttentionFilter, "account__marketplace", "account", "source", "reason"]
    list_select_related = ["account", "line__order"]
    search_fields = ["line__order__external_id", "line__external_id", "line__sku", "marketplace_reference",
                     "error_code", "error_message"]
    date_hierarchy = "created_at"
    actions = ["retry", "verify_now"]
    # Links from other pages (an order's, a call's cancellations) filter on these.
    extra_lookups = ("calls__id__exact", "line__order__id__exact", "line__id__exact", "request_id")

    def get_fieldsets(self, request: HttpRequest, obj: Cancellation | None = None):
        fieldsets = [
            (None, {"fields": ["status_badge", "order_link", "line_link", "account_link", "quantity",
                               "reason_full", "note", "restock"]}),
            ("Marketplace answer", {"fields": ["marketplace_reference", "error_code", "error_message", "attempts",
                                               "next_attempt_at", "baseline_cancelled_quantity"]}),
            ("Timeline", {"fields": ["history", "calls_made"]}),
            ("Request", {"fields": ["request_id", "requested_by", "source", "created_at", "updated_at",
                                    "confirmed_at"]}),
        ]
        if obj is not None and spec_for(obj.account.marketplace).cancel_carries_amounts:
            fieldsets.insert(1, ("Amounts sent", {"fields": ["amount", "shipping_amount", "taxes_pretty",
                                                             "shipping_taxes_pretty", "currency"]}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [name for _, options in self.get_fieldsets(request, obj) for name in options["fields"]]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("account", "line__order", "requested_by")

    def get_urls(self):
        take = path("attention/<int:pk>/", self.admin_site.admin_view(self.attention_view),
                    name="cancellations_cancellation_attention")
        return [take, *super().get_urls()]

    def attention_view(self, request: HttpRequest, pk: int) -> HttpResponseRedirect:
        """Take a cancellation of the needs-attention queue and/or write its note (POST from the dashboard)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_request_cancellation_permission(request):
            raise PermissionDenied("You may not work the needs-attention queue.")
        cancellation = get_object_or_404(Cancellation, pk=pk)
        note = request.POST.get("note", "").strip()[:2000]
        AttentionNote.objects.update_or_create(cancellation=cancellation,
                                               defaults={"note": note, "taken_by": request.user})
        self.message_user(request, f"{cancellation}: taken by {request.user}.", messages.SUCCESS)
        return HttpResponseRedirect(f"{reverse('admin:index')}#attention-{pk}")

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        return lookup in self.extra_lookups or super().lookup_allowed(lookup, value, request)

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: Cancellation) -> str:
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description="Order", ordering="line__order__external_id")
    def order_link(self, obj: Cancellation) -> str:
        return admin_link(obj.line.order, obj.line.order.external_id)

    @admin.display(description="Line", ordering="line__external_id")
    def line_link(self, obj: Cancellation) -> str:
        return format_html('<span title="SKU {}">{}</span>', obj.line.sku, admin_link(obj.line, obj.line.external_id))

    @admin.display(description="Updated", ordering="updated_at")
    def updated(self, obj: Cancellation) -> str:
        return format_html('<span style="white-space:nowrap">{}</span>',
                           date_format(localtime(obj.updated_at), "Y-m-d H:i"))

    @admin.display(description="Reason", ordering="reason_code")
    def reason_short(self, obj: Cancellation) -> str:
        return obj.get_reason_display() if obj.reason else obj.reason_code

    @admin.display(description="Reason")
    def reason_full(self, obj: Cancellation) -> str:
        return reason_text(obj)

    @admin.display(description="Marketplace error", ordering="error_code")
    def error_short(self, obj: Cancellation) -> str:
        if not (obj.error_code or obj.error_message):
            return ""
        return format_html('<span title="{} [{}]">{}</span>', obj.error_message, obj.error_code,
                           shorten(obj.error_message or obj.error_code, 70))

    @admin.display(description="History (to the second)")
    def history(self, obj: Cancellation) -> str:
        return _events_table(obj.events.select_related("actor").order_by("created_at", "id"))

    @admin.display(description="Marketplace calls")
    def calls_made(self, obj: Cancellation) -> str:
        return _calls_table(obj.calls.order_by("created_at", "id"))

    @admin.display(description="Taxes")
    def taxes_pretty(self, obj: Cancellation) -> str:
        return pre(obj.taxes)

    @admin.display(description="Shipping taxes")
    def shipping_taxes_pretty(self, obj: Cancellation) -> str:
        return pre(obj.shipping_taxes)

    @admin.action(description="Retry", permissions=["request_cancellation"])
    def retry(self, request: HttpRequest, queryset) -> None:
        self._each(request, queryset, cancellation_retry, "queued for retry")

    @admin.action(description="Verify now", permissions=["request_cancellation"])
    def verify_now(self, request: HttpRequest, queryset) -> None:
        self._each(request, queryset, cancellation_verify_request, "queued for verification")

    def _each(self, request: HttpRequest, queryset, service: Callable, done_text: str) -> None:
        """Apply ``service`` to each selected cancellation; report how many it accepted and refused."""
        done, refused = 0, []
        for cancellation in queryset.select_related(None).order_by("pk"):
            try:
                service(cancellation=cancellation, user=request.user, source="admin")
            except CancellationStateError as exc:
                refused.append(f"#{cancellation.pk}: {exc}")
            else:
                done += 1
        if done:
            self.message_user(request, f"{done} cancellation(s) {done_text}.", messages.SUCCESS)
        if refused:
            shown = "; ".join(refused[:10]) + (f"; and {len(refused) - 10} more" if len(refused) > 10 else "")
            self.message_user(request, f"{len(refused)} cancellation(s) skipped: {shown}", messages.WARNING)


@admin.register(CancellationEvent)
class CancellationEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["created_at", "cancellation_link", "from_status", "to_status", "actor", "source", "message"]
    list_filter = ["to_status", "source"]
    list_select_related = ["actor", "cancellation__line__order"]
    search_fields = ["cancellation__line__order__external_id", "message"]
    date_hierarchy = "created_at"

    @admin.display(description="Cancellation")
    def cancellation_link(self, obj: CancellationEvent) -> str:
        return admin_link(obj.cancellation)


class AnswerFilter(admin.SimpleListFilter):
    """Calls by what the marketplace answered, not by our bookkeeping state."""

    title = "answer"
    parameter_name = "answer"
    CLASSES = {"2xx": ("Success (2xx)", Q(status_code__gte=200, status_code__lt=300)),
               "429": ("Rate limited (429)", Q(status_code=429)),
               "4xx": ("Refused (4xx)", Q(status_code__gte=400, status_code__lt=500) & ~Q(status_code=429)),
               "5xx": ("Server error (5xx)", Q(status_code__gte=500)),
               "none": ("No answer (timeout, network, not sent yet)", Q(status_code__isnull=True))}

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _) in self.CLASSES.items()]

    def queryset(self, request, queryset):
        match = self.CLASSES.get(self.value() or "")
        return queryset.filter(match[1]) if match else queryset


VIEW_CALL_BODIES = "cancellations.view_call_bodies"


@admin.register(MarketplaceCall)
class MarketplaceCallAdmin(AccountColumnsMixin, ReadOnlyMixin, admin.ModelAdmin):
    """Every exchange with a marketplace. Secrets were masked when the exchange was recorded."""

    list_display = ["id", "created_at", "account_name", "operation", "method", "answer", "duration",
                    "cancellations_link", "error_short"]
    list_filter = ["operation", AnswerFilter, "account__marketplace", "account"]
    list_select_related = ["account"]
    search_fields = ["correlation_id", "batch_key", "url"]
    date_hierarchy = "created_at"
    fieldsets = [
        (None, {"fields": ["account_link", "operation", "answer", "cancellations_link", "batch_key",
                           "correlation_id", "created_at", "claimed_at", "completed_at", "duration", "error"]}),
        ("Request, exactly as sent (secrets masked)", {"fields": ["method", "url", "request_headers_pretty",
                                                                  "request_body_pretty"]}),
        ("Response, exactly as received", {"fields": ["status_code", "response_headers_pretty",
                                                      "response_body_pretty"]}),
    ]

    def get_fieldsets(self, request: HttpRequest, obj=None):
        if request.user.has_perm(VIEW_CALL_BODIES):
            return self.fieldsets
        return [self.fieldsets[0], ("Request and response", {
            "fields": ["method", "url", "status_code"],
            "description": "Headers and bodies hold customer data: they are shown only to users with the "
                           "permission “Can see marketplace call bodies”.",
        })]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [name for _, options in self.get_fieldsets(request, obj) for name in options["fields"]]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("account").annotate(cancellation_total=Count(
            "cancellations"))

    @admin.display(description="Answer", ordering="status_code")
    def answer(self, obj: MarketplaceCall) -> str:
        return http_badge(obj.status_code, obj.get_state_display() if obj.state != "done" else "No answer")

    @admin.display(description="Took", ordering="duration_ms")
    def duration(self, obj: MarketplaceCall) -> str:
        return f"{obj.duration_ms} ms" if obj.duration_ms is not None else "—"

    @admin.display(description="Cancellations", ordering="cancellation_total")
    def cancellations_link(self, obj: MarketplaceCall) -> str:
        n = obj.cancellation_total
        return changelist_link(Cancellation, f"{n} cancellation{'s' if n != 1 else ''}", calls__id__exact=obj.pk) \
            if n else "—"

    @admin.display(description="Error")
    def error_short(self, obj: MarketplaceCall) -> str:
        return shorten(obj.error, 60)

    @admin.display(description="Request headers")
    def request_headers_pretty(self, obj: MarketplaceCall) -> str:
        return pre(obj.request_headers)

    @admin.display(description="Request body")
    def request_body_pretty(self, obj: MarketplaceCall) -> str:
        return body(obj.request_body)

    @admin.display(description="Response headers")
    def response_headers_pretty(self, obj: MarketplaceCall) -> str:
        return pre(obj.response_headers)

    @admin.display(description="Response body")
    def response_body_pretty(self, obj: MarketplaceCall) -> str:
        return body(obj.response_body)


class PendingExportFilter(admin.SimpleListFilter):
    title = "export"
    parameter_name = "pending"

    def lookups(self, request, model_admin):
        return [("yes", "Pending"), ("no", "Exported")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(exported_at__isnull=self.value() == "yes")
        return queryset


@admin.register(InventoryAdjustment)
class InventoryAdjustmentAdmin(InventoryExportAdminMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["sku", "quantity", "restock", "account", "cancellation_id", "exported_at", "created_at"]
    list_filter = [PendingExportFilter, "restock", "account"]
    list_select_related = ["account"]
    search_fields = ["sku"]
    date_hierarchy = "created_at"

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("account", "cancellation")
