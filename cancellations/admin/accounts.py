"""Marketplace accounts (write-only credentials) and their reason codes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count
from django.http import HttpRequest
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from rest_framework import serializers

from ..credentials import credentials_validate
from ..marketplaces.base import ConfigurationError, validate_base_url
from ..models import Marketplace, MarketplaceAccount, MarketplaceReason, Source
from ..pacing import account_pace_of
from ..services import orders_sync_request
from ..services.account_changes import (
    REBIND_MESSAGE,
    account_change_record,
    account_destination,
    credentials_rebind_required,
)

# Credential keys each marketplace uses (Walmart: signature auth or OAuth client credentials).
CREDENTIAL_FIELDS: dict[str, tuple[str, str]] = {  # key: (label, marketplace)
    "api_key": ("Mirakl API key", "mirakl"),
    "consumer_id": ("Walmart consumer ID (signature auth)", "walmart_ca"),
    "channel_type": ("Walmart consumer channel type (signature auth)", "walmart_ca"),
    "private_key": ("Walmart private key, base64 (signature auth)", "walmart_ca"),
    "client_id": ("Walmart client ID (OAuth)", "walmart_ca"),
    "client_secret": ("Walmart client secret (OAuth)", "walmart_ca"),
}
SECRET_POST_FIELDS = tuple(f"credential_{key}" for key in CREDENTIAL_FIELDS)
_KEEP = "Leave blank to keep the current value. Stored encrypted; never shown again."


def credentials_summary(credentials: dict[str, Any] | None) -> str:
    """What may be said about credentials: whether they are set and which keys (never a value)."""
    if not credentials:
        return "not configured"
    keys = sorted(credentials)
    return f"configured ({len(keys)} field{'s' if len(keys) != 1 else ''}: {', '.join(keys)})"


def _secret_input(key: str) -> forms.CharField:
    return forms.CharField(
        label=CREDENTIAL_FIELDS[key][0], required=False, strip=True, help_text=_KEEP,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )


class MarketplaceAccountForm(forms.ModelForm):
    """Credentials are write-only: every secret input renders empty, and a blank input keeps the stored value."""

    credential_api_key = _secret_input("api_key")
    credential_consumer_id = _secret_input("consumer_id")
    credential_channel_type = _secret_input("channel_type")
    credential_private_key = _secret_input("private_key")
    credential_client_id = _secret_input("client_id")
    credential_client_secret = _secret_input("client_secret")

    clear_credentials = forms.BooleanField(
        label="Remove all stored credentials first", required=False,
        help_text="Then only the values entered in this form are kept.",
    )

    base_url = forms.URLField(assume_scheme="https", max_length=200,
                              help_text=MarketplaceAccount._meta.get_field("base_url").help_text)

    class Meta:
        model = MarketplaceAccount
        fields = ["name", "marketplace", "base_url", "enabled", "options", "max_concurrent_sends",
                  "rate_limit_per_second"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.destination_before = account_destination(self.instance) if self.instance.pk else None
        self.credentials_changed = False

    def clean_base_url(self) -> str:
        try:
            return validate_base_url(self.cleaned_data["base_url"])
        except ConfigurationError as exc:
            raise forms.ValidationError(exc.message) from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        marketplace = cleaned.get("marketplace")
        auth = (cleaned.get("options") or {}).get("auth", "signature")
        typed = {key: cleaned[f"credential_{key}"] for key in CREDENTIAL_FIELDS if cleaned.get(f"credential_{key}")}
        destination = {"marketplace": marketplace or "", "base_url": cleaned.get("base_url") or ""}
        if marketplace == Marketplace.WALMART_CA:
            destination["auth"] = auth
        rebind = bool(marketplace and cleaned.get("base_url")) and credentials_rebind_required(
            self.instance, destination)
        # Stored credentials never follow the account to a new destination: they must be entered again.
        stored = {} if cleaned.get("clear_credentials") or rebind else dict(self.instance.credentials or {})
        if rebind and not typed:
            self.add_error(None, REBIND_MESSAGE)
        stored.update(typed)
        if marketplace == Marketplace.WALMART_CA:
            stored["auth"] = auth
        if marketplace:
            try:
                stored = credentials_validate(marketplace, stored)
            except serializers.ValidationError as exc:
                self._credential_errors(exc.detail)
        self.merged_credentials = stored
        self.credentials_changed = stored != (self.instance.credentials or {})
        return cleaned

    def _credential_errors(self, detail) -> None:
        """Put the shared validator's messages on the matching inputs (never echoing a value)."""
        items = detail.items() if isinstance(detail, dict) else [(None, detail)]
        for key, messages in items:
            field = f"credential_{key}" if f"credential_{key}" in self.fields else None
            for message in messages if isinstance(messages, list) else [messages]:
                text = f"{key}: {message}" if key and field is None else str(message)
                if key == "auth":
                    text = f"options.auth: {message}"
                self.add_error(field, text)

    def save(self, commit: bool = True) -> MarketplaceAccount:
        self.instance.credentials = self.merged_credentials
        return super().save(commit=commit)


@admin.register(MarketplaceAccount)
class MarketplaceAccountAdmin(admin.ModelAdmin):
    form = MarketplaceAccountForm
    list_display = ["name", "marketplace", "enabled", "credentials_status", "order_count", "last_synced_at",
                    "last_error_short"]
    list_filter = ["marketplace", "enabled"]
    search_fields = ["name"]
    readonly_fields = ["credentials_status", "sending_pace", "last_synced_at", "last_error", "created_at",
                       "updated_at"]
    actions = ["sync_orders_now"]

    def get_fieldsets(self, request: HttpRequest, obj: MarketplaceAccount | None = None):
        secret_fields = [f"credential_{key}" for key in CREDENTIAL_FIELDS]
        return [
            (None, {"fields": ["name", "marketplace", "base_url", "enabled", "options"]}),
            ("Credentials (write-only)", {
                "fields": ["credentials_status", *secret_fields, "clear_credentials"],
                "description": "Stored values are never displayed. Fill in only what you want to change.",
            }),
            ("Sending pace", {"fields": ["sending_pace", "max_concurrent_sends", "rate_limit_per_second"]}),
            ("Status", {"fields": ["last_synced_at", "last_error", "created_at", "updated_at"]}),
        ]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(order_total=Count("orders"))

    def save_model(self, request: HttpRequest, obj: MarketplaceAccount, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        account_change_record(account=obj, before=form.destination_before, actor=request.user,
                              source=Source.ADMIN, credentials_changed=form.credentials_changed)

    @method_decorator(sensitive_post_parameters(*SECRET_POST_FIELDS))
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)

    @admin.display(description="Credentials")
    def credentials_status(self, obj: MarketplaceAccount) -> str:
        return credentials_summary(obj.credentials) if obj.pk else "not configured"

    @admin.display(description="Current pace")
    def sending_pace(self, obj: MarketplaceAccount) -> str:
        if not obj.pk:
            return "-"
        pace = account_pace_of(obj)
        parts = [f"{pace.sending} of {pace.cap} sends in flight",
                 f"pace {pace.rate:.2f} calls/s" if pace.rate else "no pace limit"]
        if pace.paused_until:
            until = datetime.fromtimestamp(pace.paused_until, tz=UTC)
            parts.append(f"paused until {timezone.localtime(until):%H:%M:%S} (the marketplace's Retry-After)")
        if pace.throttled:
            parts.append(f"{pace.throttled} answer(s) 429 lately")
        return " · ".join(parts)

    @admin.display(description="Orders", ordering="order_total")
    def order_count(self, obj: MarketplaceAccount) -> int:
        return getattr(obj, "order_total", 0)

    @admin.display(description="Last error")
    def last_error_short(self, obj: MarketplaceAccount) -> str:
        return (obj.last_error[:80] + "…") if len(obj.last_error) > 80 else obj.last_error

    @admin.action(description="Sync orders now", permissions=["change"])
    def sync_orders_now(self, request: HttpRequest, queryset) -> None:
        accounts = list(queryset.filter(enabled=True))
        for account in accounts:
            orders_sync_request(account=account, user=request.user)
        skipped = queryset.count() - len(accounts)
        message = f"Order sync queued for {len(accounts)} account(s)."
        if skipped:
            message += f" {skipped} disabled account(s) skipped."
        self.message_user(request, message)


@admin.register(MarketplaceReason)
class MarketplaceReasonAdmin(admin.ModelAdmin):
    """Ops map the normalised vocabulary onto each account's own codes here (``normalised`` is editable)."""

    list_display = ["code", "label", "account", "normalised", "active", "synced_at"]
    list_editable = ["normalised", "active"]
    list_filter = ["account__marketplace", "account", "normalised", "active"]
    list_select_related = ["account"]
    search_fields = ["code", "label"]
    readonly_fields = ["synced_at"]
