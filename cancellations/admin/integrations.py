"""Admin for events, webhook endpoints and their deliveries (Redeliver), and the inventory CSV export action."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse

from ..models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from ..services.events import EVENT_TYPES
from ..services.inventory_export import (
    inventory_adjustments_export_list,
    inventory_adjustments_mark_exported,
    inventory_csv,
)
from ..services.webhooks import deliveries_redeliver, webhook_secret_new, webhook_url_problem
from .display import pre
from .orders import ReadOnlyMixin

MANAGE_WEBHOOKS = "cancellations.manage_webhooks"
EXPORT_INVENTORY = "cancellations.change_inventoryadjustment"


# ------------------------------------------------------------------------------------------ inventory


@admin.action(description="Export CSV and mark exported", permissions=["export"])
def export_csv_and_mark_exported(modeladmin, request: HttpRequest, queryset) -> HttpResponse:
    rows = list(inventory_adjustments_export_list().filter(pk__in=queryset.values("pk")))
    response = HttpResponse(inventory_csv(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="inventory-adjustments.csv"'
    inventory_adjustments_mark_exported(ids=[a.pk for a in rows])
    return response


class InventoryExportAdminMixin:
    """Gives the inventory adjustments list its export action (for users who may change adjustments)."""

    actions = [export_csv_and_mark_exported]

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(EXPORT_INVENTORY)


# ------------------------------------------------------------------------------------------ webhooks


class WebhookPermissionMixin:
    """Only holders of ``manage_webhooks`` see or touch endpoints and deliveries."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(MANAGE_WEBHOOKS)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm(MANAGE_WEBHOOKS)


class WebhookEndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(choices=[(t, t) for t in EVENT_TYPES], widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "events", "description", "enabled"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        problem = webhook_url_problem(url)
        if problem:
            raise forms.ValidationError(problem)
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(WebhookPermissionMixin, admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "events_short", "enabled", "failing_since", "created_at"]
    list_filter = ["enabled"]
    readonly_fields = ["failing_since", "created_at", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(MANAGE_WEBHOOKS)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm(MANAGE_WEBHOOKS)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm(MANAGE_WEBHOOKS)

    @admin.display(description="Events")
    def events_short(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.events)

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form, change: bool) -> None:
        obj.events = sorted(set(obj.events))
        if not change:
            obj.secret = {"secret": webhook_secret_new()}
        super().save_model(request, obj, form, change)
        if not change:
            self.message_user(request, f"Signing secret (shown only now; keep it with the receiver): "
                                       f"{obj.signing_secret}", messages.WARNING)


class WebhookAttemptInline(ReadOnlyMixin, admin.TabularInline):
    model = WebhookAttempt
    fields = ["created_at", "status_code", "duration_ms", "error"]
    readonly_fields = fields
    extra = 0


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(WebhookPermissionMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["event_link", "endpoint", "outcome", "when"]
    list_display_links = ["event_link"]
    list_filter = ["state", "endpoint", "event__type"]
    list_select_related = ["event", "endpoint"]
    fields = ["event_link", "endpoint", "state", "attempts", "last_status_code", "last_error", "next_attempt_at",
              "window_started_at", "delivered_at", "created_at"]
    readonly_fields = fields
    inlines = [WebhookAttemptInline]
    actions = ["redeliver"]

    @admin.display(description="Event")
    def event_link(self, obj: WebhookDelivery) -> str:
        return f"{obj.event.public_id} {obj.event.type}"

    @admin.display(description="Outcome", ordering="state")
    def outcome(self, obj: WebhookDelivery) -> str:
        last = f"HTTP {obj.last_status_code}" if obj.last_status_code else obj.last_error[:40]
        return f"{obj.get_state_display()}, {obj.attempts}×" + (f", {last}" if last else "")

    @admin.display(description="Delivered / next attempt", ordering="next_attempt_at")
    def when(self, obj: WebhookDelivery):
        if obj.state == "delivered":
            return obj.delivered_at
        return obj.next_attempt_at if obj.state == "pending" else "gave up"

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(MANAGE_WEBHOOKS)

    @admin.action(description="Redeliver", permissions=["redeliver"])
    def redeliver(self, request: HttpRequest, queryset) -> None:
        count = deliveries_redeliver(list(queryset))
        self.message_user(request, f"Queued {count} for delivery at the next sweep.", messages.SUCCESS)


@admin.register(Event)
class EventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["public_id", "type", "created_at"]
    list_filter = ["type"]
    date_hierarchy = "created_at"
    fields = ["public_id", "type", "created_at", "data_pretty"]
    readonly_fields = fields

    @admin.display(description="Id", ordering="id")
    def public_id(self, obj: Event) -> str:
        return obj.public_id

    @admin.display(description="Data (as the API showed it)")
    def data_pretty(self, obj: Event) -> str:
        return pre(obj.data)
