"""Cancellations with their history and marketplace calls, the calls themselves, inventory adjustments."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.http import HttpRequest

from ..dashboard import needs_attention_q
from ..models import Cancellation, CancellationEvent, InventoryAdjustment, MarketplaceCall
from ..services import CancellationStateError, cancellation_retry, cancellation_verify_request
from .display import pre, status_badge
from .integrations import InventoryExportAdminMixin
from .orders import ReadOnlyMixin, RequestCancellationPermissionMixin


class NeedsAttentionFilter(admin.SimpleListFilter):
    title = "needs attention"
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [("yes", "Needs attention"), ("no", "Fine")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(needs_attention_q())
        if self.value() == "no":
            return queryset.exclude(needs_attention_q())
        return queryset


class CancellationEventInline(ReadOnlyMixin, admin.TabularInline):
    model = CancellationEvent
    fields = ["created_at", "from_status", "to_status", "actor", "source", "message"]
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("actor")


class MarketplaceCallInline(ReadOnlyMixin, admin.TabularInline):
    model = MarketplaceCall.cancellations.through
    verbose_name = "marketplace call"
    verbose_name_plural = "marketplace calls"
    fields = ["call", "operation", "state", "status_code", "correlation_id", "created_at"]
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("marketplacecall").order_by("marketplacecall_id")

    @admin.display(description="Call")
    def call(self, obj) -> str:
        return f"#{obj.marketplacecall_id} {obj.marketplacecall.method} {obj.marketplacecall.url}"

    @admin.display(description="Operation")
    def operation(self, obj) -> str:
        return obj.marketplacecall.operation

    @admin.display(description="State")
    def state(self, obj) -> str:
        return obj.marketplacecall.get_state_display()

    @admin.display(description="HTTP status")
    def status_code(self, obj):
        return obj.marketplacecall.status_code

    @admin.display(description="Correlation id")
    def correlation_id(self, obj) -> str:
        return obj.marketplacecall.correlation_id

    @admin.display(description="Created")
    def created_at(self, obj):
        return obj.marketplacecall.created_at


@admin.register(Cancellation)
class CancellationAdmin(RequestCancellationPermissionMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "status_badge", "account", "order_external_id", "line_external_id", "quantity",
                    "reason_code", "amount", "attempts", "error_code", "created_at"]
    list_display_links = ["id", "status_badge"]
    list_filter = ["status", NeedsAttentionFilter, "account__marketplace", "account", "source", "reason"]
    list_select_related = ["account", "line__order"]
    search_fields = ["line__order__external_id", "line__external_id", "line__sku", "marketplace_reference"]
    date_hierarchy = "created_at"
    inlines = [MarketplaceCallInline, CancellationEventInline]
    fieldsets = [
        (None, {"fields": ["status_badge", "account", "line", "quantity", "reason", "reason_code", "note",
                           "restock"]}),
        ("Amounts sent (Mirakl)", {"fields": ["amount", "shipping_amount", "taxes_pretty",
                                              "shipping_taxes_pretty", "currency"]}),
        ("Marketplace", {"fields": ["marketplace_reference", "error_code", "error_message", "attempts",
                                    "next_attempt_at", "baseline_cancelled_quantity"]}),
        ("Request", {"fields": ["request_id", "requested_by", "source", "created_at", "updated_at",
                                "confirmed_at"]}),
    ]
    actions = ["retry", "verify_now"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [name for _, options in self.fieldsets for name in options["fields"]]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("account", "line__order", "requested_by")

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: Cancellation) -> str:
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description="Order", ordering="line__order__external_id")
    def order_external_id(self, obj: Cancellation) -> str:
        return obj.line.order.external_id

    @admin.display(description="Line", ordering="line__external_id")
    def line_external_id(self, obj: Cancellation) -> str:
        return f"{obj.line.external_id} ({obj.line.sku})"

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
    list_display = ["created_at", "cancellation_id", "from_status", "to_status", "actor", "source", "message"]
    list_filter = ["to_status", "source"]
    list_select_related = ["actor"]
    search_fields = ["cancellation__line__order__external_id", "message"]
    date_hierarchy = "created_at"

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("actor", "cancellation")


@admin.register(MarketplaceCall)
class MarketplaceCallAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Every exchange with a marketplace. Secrets were masked when the exchange was recorded."""

    list_display = ["id", "created_at", "account", "operation", "state", "method", "status_code", "duration_ms",
                    "correlation_id"]
    list_filter = ["operation", "state", "account__marketplace", "account"]
    list_select_related = ["account"]
    search_fields = ["correlation_id", "batch_key", "url"]
    date_hierarchy = "created_at"
    fieldsets = [
        (None, {"fields": ["account", "operation", "state", "batch_key", "correlation_id", "created_at",
                           "claimed_at", "completed_at", "duration_ms", "error"]}),
        ("Request", {"fields": ["method", "url", "request_headers_pretty", "request_body_pretty"]}),
        ("Response", {"fields": ["status_code", "response_headers_pretty", "response_body_pretty"]}),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [name for _, options in self.fieldsets for name in options["fields"]]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("account")

    @admin.display(description="Request headers")
    def request_headers_pretty(self, obj: MarketplaceCall) -> str:
        return pre(obj.request_headers)

    @admin.display(description="Request body")
    def request_body_pretty(self, obj: MarketplaceCall) -> str:
        return pre(obj.request_body)

    @admin.display(description="Response headers")
    def response_headers_pretty(self, obj: MarketplaceCall) -> str:
        return pre(obj.response_headers)

    @admin.display(description="Response body")
    def response_body_pretty(self, obj: MarketplaceCall) -> str:
        return pre(obj.response_body)


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
