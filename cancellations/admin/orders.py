"""Orders and order lines as synced from the marketplaces, with the "Cancel on marketplace" action."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path

from ..models import Order, OrderLine
from .cancel_confirm import PERMISSION, cancel_confirm_url, cancel_confirm_view
from .display import pre


class RequestCancellationPermissionMixin:
    """Lets ``@admin.action(permissions=["request_cancellation"])`` find its check."""

    def has_request_cancellation_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSION)


class ReadOnlyMixin:
    """Synced data: visible, never edited or created by hand."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class OrderLineInline(ReadOnlyMixin, admin.TabularInline):
    model = OrderLine
    fields = ["external_id", "sku", "title", "quantity", "cancelled_quantity", "cancellable", "price",
              "shipping_price", "status"]
    readonly_fields = fields
    extra = 0
    show_change_link = True

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).with_in_flight().select_related("order__account")

    @admin.display(description="Cancellable")
    def cancellable(self, obj: OrderLine) -> int:
        return obj.cancellable_quantity


@admin.register(Order)
class OrderAdmin(RequestCancellationPermissionMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["external_id", "account", "status", "line_count", "currency", "ordered_at", "synced_at"]
    list_filter = ["account__marketplace", "account", "status"]
    list_select_related = ["account"]
    search_fields = ["external_id", "customer_order_id", "lines__external_id", "lines__sku"]
    date_hierarchy = "ordered_at"
    inlines = [OrderLineInline]
    fields = ["account", "external_id", "customer_order_id", "status", "currency", "tax_mode", "ordered_at",
              "synced_at", "raw_pretty"]
    readonly_fields = fields
    actions = ["cancel_on_marketplace"]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("account").annotate(line_total=Count("lines"))

    @admin.display(description="Lines", ordering="line_total")
    def line_count(self, obj: Order) -> int:
        return obj.line_total

    @admin.display(description="Raw payload (last sync)")
    def raw_pretty(self, obj: Order) -> str:
        return pre(obj.raw)

    @admin.action(description="Cancel on marketplace", permissions=["request_cancellation"])
    def cancel_on_marketplace(self, request: HttpRequest, queryset) -> HttpResponseRedirect:
        line_ids = OrderLine.objects.filter(order_id__in=queryset.values("pk")).values_list("pk", flat=True)
        return HttpResponseRedirect(cancel_confirm_url(line_ids))


@admin.register(OrderLine)
class OrderLineAdmin(RequestCancellationPermissionMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["external_id", "order_link", "account", "sku", "quantity", "cancelled_quantity",
                    "cancellable", "status"]
    list_filter = ["order__account__marketplace", "order__account", "status"]
    list_select_related = ["order__account"]
    search_fields = ["order__external_id", "external_id", "sku"]
    fields = ["order", "external_id", "sku", "title", "quantity", "cancelled_quantity", "cancellable",
              "unit_price", "price", "shipping_price", "taxes_pretty", "shipping_taxes_pretty", "status",
              "cancelled_amount", "cancelled_shipping_amount", "raw_pretty"]
    readonly_fields = fields
    actions = ["cancel_on_marketplace"]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).with_in_flight()

    def get_urls(self):
        cancel = path("cancel/", self.admin_site.admin_view(self.cancel_view), name="cancellations_orderline_cancel")
        return [cancel, *super().get_urls()]

    def cancel_view(self, request: HttpRequest):
        """The confirmation page (checks the request_cancellation permission itself: admin_view only checks staff)."""
        return cancel_confirm_view(request, self)

    @admin.display(description="Order", ordering="order__external_id")
    def order_link(self, obj: OrderLine) -> str:
        return obj.order.external_id

    @admin.display(description="Account", ordering="order__account__name")
    def account(self, obj: OrderLine) -> str:
        return obj.order.account.name

    @admin.display(description="Cancellable")
    def cancellable(self, obj: OrderLine) -> int:
        return obj.cancellable_quantity

    @admin.display(description="Taxes")
    def taxes_pretty(self, obj: OrderLine) -> str:
        return pre(obj.taxes)

    @admin.display(description="Shipping taxes")
    def shipping_taxes_pretty(self, obj: OrderLine) -> str:
        return pre(obj.shipping_taxes)

    @admin.display(description="Raw payload (last sync)")
    def raw_pretty(self, obj: OrderLine) -> str:
        return pre(obj.raw)

    @admin.action(description="Cancel on marketplace", permissions=["request_cancellation"])
    def cancel_on_marketplace(self, request: HttpRequest, queryset) -> HttpResponseRedirect:
        return HttpResponseRedirect(cancel_confirm_url(queryset.values_list("pk", flat=True)))
