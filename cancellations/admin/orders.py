"""Orders and order lines as synced from the marketplaces, with the "Cancel on marketplace" action."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path
from django.utils.dateformat import format as date_format
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime

from ..models import IN_FLIGHT_STATUSES, Cancellation, Order, OrderLine
from .cancel_confirm import PERMISSION, cancel_confirm_url, cancel_confirm_view
from .display import admin_link, changelist_link, pre, shorten, status_badge


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


class AccountColumnsMixin:
    """The account columns of an admin whose model has an ``account``: its name (sortable) and a link to it."""

    @admin.display(description="Account", ordering="account__name")
    def account_name(self, obj) -> str:
        return obj.account.name

    @admin.display(description="Account")
    def account_link(self, obj) -> str:
        return admin_link(obj.account)


class OrderLineInline(ReadOnlyMixin, admin.TabularInline):
    model = OrderLine
    fields = ["line_link", "sku", "title", "quantity", "cancelled_quantity", "in_flight", "cancellable", "price",
              "shipping_price", "status"]
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).with_in_flight().select_related("order__account")

    @admin.display(description="Line")
    def line_link(self, obj: OrderLine) -> str:
        return admin_link(obj, obj.external_id)

    @admin.display(description="In flight")
    def in_flight(self, obj: OrderLine) -> int:
        return obj.in_flight_quantity

    @admin.display(description="Cancellable")
    def cancellable(self, obj: OrderLine) -> int:
        return obj.cancellable_quantity


def _cancellations_timeline(cancellations) -> str:
    """Every cancellation of an order or line, newest first: when, which line, how many, status, answer."""
    rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                            "</tr>", (
        (date_format(localtime(c.created_at), "Y-m-d H:i:s"), admin_link(c, f"#{c.pk}"),
         admin_link(c.line, c.line.external_id), c.quantity, status_badge(c.status, c.get_status_display()),
         c.requested_by or c.get_source_display(),
         shorten(f"{c.error_message} [{c.error_code}]", 80) if c.error_code else (c.marketplace_reference or ""))
        for c in cancellations))
    if not rows:
        return "No cancellation yet."
    return format_html('<table class="timeline"><thead><tr><th>Asked</th><th>Cancellation</th><th>Line</th>'
                       "<th>Units</th><th>Status</th><th>By</th><th>Marketplace answer</th></tr></thead>"
                       "<tbody>{}</tbody></table>", rows)


@admin.register(Order)
class OrderAdmin(AccountColumnsMixin, RequestCancellationPermissionMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["external_id", "account_name", "status", "line_count", "cancellation_count", "ordered_at",
                    "synced_at"]
    list_filter = ["account__marketplace", "account", "status"]
    list_select_related = ["account"]
    search_fields = ["external_id", "customer_order_id", "lines__external_id", "lines__sku"]
    date_hierarchy = "ordered_at"
    inlines = [OrderLineInline]
    fieldsets = [
        (None, {"fields": ["account_link", "external_id", "customer_order_id", "status", "currency", "tax_mode",
                           "ordered_at", "synced_at"]}),
        ("Cancellations", {"fields": ["cancellations_timeline"]}),
        ("Raw payload (last sync)", {"fields": ["raw_pretty"], "classes": ["collapse"]}),
    ]
    readonly_fields = [name for _, options in fieldsets for name in options["fields"]]
    actions = ["cancel_on_marketplace"]
    change_form_template = "admin/cancellations/order/change_form.html"

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("account").annotate(
            line_total=Count("lines", distinct=True), cancellation_total=Count("lines__cancellations", distinct=True))

    def change_view(self, request: HttpRequest, object_id, form_url="", extra_context=None):
        order = self.get_object(request, object_id)
        extra = {**(extra_context or {})}
        if order is not None and self.has_request_cancellation_permission(request):
            extra["cancel_lines_url"] = cancel_confirm_url(order.lines.values_list("pk", flat=True))
        return super().change_view(request, object_id, form_url, extra)

    @admin.display(description="Lines", ordering="line_total")
    def line_count(self, obj: Order) -> int:
        return obj.line_total

    @admin.display(description="Cancellations", ordering="cancellation_total")
    def cancellation_count(self, obj: Order) -> str:
        n = obj.cancellation_total
        return changelist_link(Cancellation, n, line__order__id__exact=obj.pk) if n else "—"

    @admin.display(description="Timeline")
    def cancellations_timeline(self, obj: Order) -> str:
        return _cancellations_timeline(Cancellation.objects.filter(line__order=obj).select_related(
            "line", "requested_by").order_by("-created_at", "-id"))

    @admin.display(description="Payload")
    def raw_pretty(self, obj: Order) -> str:
        return pre(obj.raw)

    @admin.action(description="Cancel on marketplace", permissions=["request_cancellation"])
    def cancel_on_marketplace(self, request: HttpRequest, queryset) -> HttpResponseRedirect:
        line_ids = OrderLine.objects.filter(order_id__in=queryset.values("pk")).values_list("pk", flat=True)
        return HttpResponseRedirect(cancel_confirm_url(line_ids))


@admin.register(OrderLine)
class OrderLineAdmin(RequestCancellationPermissionMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["external_id", "order_link", "account_name", "sku", "title_short", "quantity",
                    "cancelled", "in_flight", "cancellable", "status"]
    list_display_links = ["external_id"]
    list_filter = ["order__account__marketplace", "order__account", "status"]
    list_select_related = ["order__account"]
    search_fields = ["order__external_id", "external_id", "sku"]
    fieldsets = [
        (None, {"fields": ["order_link", "account_link", "external_id", "sku", "title", "status", "quantity",
                           "cancelled_quantity", "in_flight_text", "cancellable"]}),
        ("Cancellations", {"fields": ["cancellations_timeline"]}),
        ("Money", {"fields": ["unit_price", "price", "shipping_price", "taxes_pretty", "shipping_taxes_pretty",
                              "cancelled_amount", "cancelled_shipping_amount"]}),
        ("Raw payload (last sync)", {"fields": ["raw_pretty"], "classes": ["collapse"]}),
    ]
    readonly_fields = [name for _, options in fieldsets for name in options["fields"]]
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
        return admin_link(obj.order, obj.order.external_id)

    @admin.display(description="Account", ordering="order__account__name")
    def account_name(self, obj: OrderLine) -> str:
        return obj.order.account.name

    @admin.display(description="Account")
    def account_link(self, obj: OrderLine) -> str:
        return admin_link(obj.order.account)

    @admin.display(description="Title", ordering="title")
    def title_short(self, obj: OrderLine) -> str:
        return shorten(obj.title, 32)

    @admin.display(description="Cancelled", ordering="cancelled_quantity")
    def cancelled(self, obj: OrderLine) -> int:
        return obj.cancelled_quantity

    @admin.display(description="In flight", ordering="in_flight_quantity")
    def in_flight(self, obj: OrderLine) -> int:
        return obj.in_flight_quantity

    @admin.display(description="In flight")
    def in_flight_text(self, obj: OrderLine) -> str:
        """What is being cancelled right now, so nobody asks twice."""
        moving = list(obj.cancellations.filter(status__in=IN_FLIGHT_STATUSES).order_by("created_at"))
        if not moving:
            return "Nothing in flight."
        return format_html_join(", ", "{} unit(s): {} {}", (
            (c.quantity, admin_link(c, f"#{c.pk}"), status_badge(c.status, c.get_status_display())) for c in moving))

    @admin.display(description="Cancellable")
    def cancellable(self, obj: OrderLine) -> int:
        return obj.cancellable_quantity

    @admin.display(description="Timeline")
    def cancellations_timeline(self, obj: OrderLine) -> str:
        return _cancellations_timeline(obj.cancellations.select_related("line", "requested_by").order_by(
            "-created_at", "-id"))

    @admin.display(description="Taxes")
    def taxes_pretty(self, obj: OrderLine) -> str:
        return pre(obj.taxes)

    @admin.display(description="Shipping taxes")
    def shipping_taxes_pretty(self, obj: OrderLine) -> str:
        return pre(obj.shipping_taxes)

    @admin.display(description="Payload")
    def raw_pretty(self, obj: OrderLine) -> str:
        return pre(obj.raw)

    @admin.action(description="Cancel on marketplace", permissions=["request_cancellation"])
    def cancel_on_marketplace(self, request: HttpRequest, queryset) -> HttpResponseRedirect:
        return HttpResponseRedirect(cancel_confirm_url(queryset.values_list("pk", flat=True)))
