"""The built-in marketplace emulator's state. Registered only when ``settings.SANDBOX_ENABLED``.

Faults are editable so that ops and demo users can make the sandbox fail on purpose; the rest is read-only.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.http import HttpRequest

from ..sandbox.models import SandboxCancel, SandboxFault, SandboxOrder, SandboxRequest, SandboxSeller
from .display import pre
from .orders import ReadOnlyMixin


@admin.register(SandboxSeller)
class SandboxSellerAdmin(admin.ModelAdmin):
    """Only ``options`` (the latency, rate-limit and chaos knobs) may be changed."""

    list_display = ["identifier", "marketplace", "shop_id", "auth", "order_count", "options"]
    list_filter = ["marketplace"]
    search_fields = ["identifier", "shop_id"]
    fields = ["marketplace", "identifier", "shop_id", "auth", "public_key_pem", "options"]
    readonly_fields = ["marketplace", "identifier", "shop_id", "auth", "public_key_pem"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(order_total=Count("orders"))

    @admin.display(description="Authenticates with")
    def auth(self, obj: SandboxSeller) -> str:
        # The secret digest is not shown: only which kind of credential the seller uses.
        if obj.public_key_pem:
            return "signature (public key)"
        return "secret (digest stored)" if obj.secret_sha256 else "nothing"

    @admin.display(description="Orders", ordering="order_total")
    def order_count(self, obj: SandboxSeller) -> int:
        return getattr(obj, "order_total", 0)


@admin.register(SandboxOrder)
class SandboxOrderAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["external_id", "seller", "created_at", "updated_at"]
    list_filter = ["seller__marketplace", "seller"]
    list_select_related = ["seller"]
    search_fields = ["external_id"]
    fields = ["seller", "external_id", "created_at", "updated_at", "data_pretty"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("seller")

    @admin.display(description="Data")
    def data_pretty(self, obj: SandboxOrder) -> str:
        return pre(obj.data)


@admin.register(SandboxFault)
class SandboxFaultAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "marketplace", "operation", "seller", "remaining", "created_at"]
    list_filter = ["marketplace", "kind", "operation"]
    list_select_related = ["seller"]
    list_editable = ["remaining"]
    autocomplete_fields = ["seller"]
    fields = ["marketplace", "seller", "operation", "kind", "params", "remaining"]


@admin.register(SandboxRequest)
class SandboxRequestAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "created_at", "marketplace", "operation", "method", "path", "status_code", "seller"]
    list_filter = ["marketplace", "operation", "status_code"]
    list_select_related = ["seller"]
    search_fields = ["path"]
    date_hierarchy = "created_at"
    readonly_fields = ["marketplace", "seller", "operation", "method", "path", "status_code", "created_at"]
    fields = readonly_fields

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("seller")


@admin.register(SandboxCancel)
class SandboxCancelAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """What the emulated marketplace really cancelled, by which request (or by someone else)."""

    list_display = ["id", "created_at", "seller", "order_id", "line_id", "quantity", "reason_code", "operation",
                    "source", "request_id"]
    list_filter = ["source", "operation", "seller__marketplace"]
    list_select_related = ["seller"]
    search_fields = ["order_id", "line_id", "request_id"]
    fields = list_display[1:]
    readonly_fields = fields
