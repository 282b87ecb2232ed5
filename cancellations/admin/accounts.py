"""Marketplace accounts (write-only credentials) and their reason codes.

The account form is built from the marketplace's spec: its auth modes as a select, the credential inputs of
each mode (only that marketplace's), and its declared options. Adding an account starts by choosing the
marketplace, so the form never shows another marketplace's fields.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from django.views.decorators.debug import sensitive_post_parameters
from rest_framework import serializers

from ..credentials import AUTH, credentials_validate
from ..marketplaces.base import ConfigurationError, validate_base_url
from ..marketplaces.registry import spec_for, specs
from ..marketplaces.spec import CredentialField, MarketplaceSpec, OptionField
from ..models import MarketplaceAccount, MarketplaceReason, Source
from ..pacing import account_pace_of
from ..services import orders_sync_request
from ..services.account_changes import (
    REBIND_MESSAGE,
    account_change_record,
    account_destination,
    credentials_rebind_required,
)
from ..services.enqueue import connection_test_enqueue_on_commit

_KEEP = "Leave blank to keep the current value. Stored encrypted; never shown again."
BASE_FIELDS = ["name", "marketplace", "base_url", "enabled"]
PACE_FIELDS = ["max_concurrent_sends", "rate_limit_per_second"]


def secret_post_fields() -> tuple[str, ...]:
    """Every credential input name of every configured marketplace (hidden from error reports)."""
    return tuple(sorted({f"credential_{key}" for spec in specs().values() for key in spec.credential_fields()}))


def credentials_summary(credentials: dict[str, Any] | None) -> str:
    """What may be said about credentials: whether they are set and which keys (never a value)."""
    if not credentials:
        return "not configured"
    keys = sorted(credentials)
    return f"configured ({len(keys)} field{'s' if len(keys) != 1 else ''}: {', '.join(keys)})"


def _secret_input(field: CredentialField) -> forms.CharField:
    return forms.CharField(
        label=field.label, required=False, strip=True, help_text=" ".join(filter(None, [field.help_text, _KEEP])),
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )


def _option_input(option: OptionField) -> forms.Field:
    if option.boolean:
        return forms.BooleanField(label=option.label, required=False, help_text=option.help_text)
    if option.choices:
        return forms.ChoiceField(label=option.label, required=False, help_text=option.help_text,
                                 choices=[("", "---------"), *((c, c) for c in option.choices)])
    return forms.CharField(label=option.label, required=False, max_length=200, help_text=option.help_text)


class MarketplaceAccountForm(forms.ModelForm):
    """Credentials are write-only: every secret input renders empty, and a blank input keeps the stored value.

    Subclassed per marketplace by ``account_form_for`` (``spec`` set, inputs added).
    """

    spec: MarketplaceSpec

    clear_credentials = forms.BooleanField(
        label="Remove all stored credentials first", required=False,
        help_text="Then only the values entered in this form are kept.",
    )
    base_url = forms.URLField(assume_scheme="https", max_length=200, widget=forms.URLInput({"class": "vURLField"}),
                              help_text=MarketplaceAccount._meta.get_field("base_url").help_text)

    class Meta:
        model = MarketplaceAccount
        fields = [*BASE_FIELDS, *PACE_FIELDS]

    class Media:
        js = ["cancellations/account_form.js"]  # shows only the chosen auth mode's credential inputs

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.destination_before = account_destination(self.instance) if self.instance.pk else None
        self.credentials_changed = False
        self.fields["marketplace"] = forms.ChoiceField(
            choices=[(self.spec.key, self.spec.label)], initial=self.spec.key, disabled=True)
        options = self.instance.options or {}
        if AUTH in self.fields:
            self.fields[AUTH].initial = self._stored_auth()
        for option in self.spec.options:
            self.fields[f"option_{option.key}"].initial = options.get(option.key)

    def _stored_auth(self) -> str:
        """The account's auth mode; a new account's default."""
        if not self.instance.pk:
            return self.spec.default_auth
        return self.spec.account_auth(self.instance.options or {}, self.instance.credentials or {})

    def clean_base_url(self) -> str:
        try:
            return validate_base_url(self.cleaned_data["base_url"])
        except ConfigurationError as exc:
            raise forms.ValidationError(exc.message) from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        spec = self.spec
        mode = cleaned.get(AUTH) or self._stored_auth()
        typed = {key: cleaned[f"credential_{key}"] for key in spec.credential_fields()
                 if cleaned.get(f"credential_{key}")}
        destination = {"marketplace": spec.key, "base_url": cleaned.get("base_url") or "", "auth": mode}
        rebind = bool(cleaned.get("base_url")) and credentials_rebind_required(self.instance, destination)
        # Stored credentials never follow the account to a new destination: they must be entered again.
        stored = {} if cleaned.get("clear_credentials") or rebind else dict(self.instance.credentials or {})
        if rebind and not typed:
            self.add_error(None, REBIND_MESSAGE)
        stored.update(typed)
        if spec.auth_in_credentials:
            stored[AUTH] = mode
        try:
            stored = credentials_validate(spec.key, stored)
        except serializers.ValidationError as exc:
            self._credential_errors(exc.detail)
        self.merged_credentials = stored
        self.credentials_changed = stored != (self.instance.credentials or {})
        self.merged_options = self._options(cleaned, mode)
        return cleaned

    def _options(self, cleaned: dict[str, Any], mode: str) -> dict[str, Any]:
        options = dict(self.instance.options or {})  # keys the form does not declare are kept
        for option in self.spec.options:
            value = cleaned.get(f"option_{option.key}")
            if value in (None, "") or (option.boolean and value is False and option.key not in options):
                options.pop(option.key, None)
            else:
                options[option.key] = value
        if self.spec.has_auth_choice:
            options[AUTH] = mode
        return options

    def _credential_errors(self, detail) -> None:
        """Put the shared validator's messages on the matching inputs (never echoing a value)."""
        items = detail.items() if isinstance(detail, dict) else [(None, detail)]
        for key, messages_ in items:
            field = next((f for f in (f"credential_{key}", key) if key and f in self.fields), None)
            for message in messages_ if isinstance(messages_, list) else [messages_]:
                self.add_error(field, f"{key}: {message}" if key and field is None else str(message))

    def save(self, commit: bool = True) -> MarketplaceAccount:
        self.instance.marketplace = self.spec.key
        self.instance.credentials = self.merged_credentials
        self.instance.options = self.merged_options
        return super().save(commit=commit)


def account_form_for(spec: MarketplaceSpec) -> type[MarketplaceAccountForm]:
    """The account form of one marketplace: its auth select, credential inputs and options."""
    attrs: dict[str, Any] = {"spec": spec}
    if spec.has_auth_choice:
        attrs[AUTH] = forms.ChoiceField(
            label="Auth mode", help_text="Fill in the credentials of the mode chosen here.",
            choices=[(m.key, f"{m.label} (deprecated)" if m.deprecation else m.label) for m in spec.auth_modes])
    for key, field in spec.credential_fields().items():
        attrs[f"credential_{key}"] = _secret_input(field)
    for option in spec.options:
        attrs[f"option_{option.key}"] = _option_input(option)
    return type(f"{spec.key.title().replace('_', '')}AccountForm", (MarketplaceAccountForm,), attrs)


@admin.register(MarketplaceAccount)
class MarketplaceAccountAdmin(admin.ModelAdmin):
    list_display = ["name", "marketplace", "auth_mode_shown", "enabled", "credentials_short", "order_count",
                    "last_synced_at", "connection", "last_error_short"]
    list_filter = ["marketplace", "enabled"]
    search_fields = ["name"]
    readonly_fields = ["credentials_status", "sending_pace", "last_synced_at", "last_error", "connection",
                       "created_at", "updated_at", "change_history"]
    actions = ["sync_orders_now", "test_connection"]
    choose_marketplace_template = "admin/cancellations/marketplaceaccount/choose_marketplace.html"

    def _spec(self, request: HttpRequest, obj: MarketplaceAccount | None) -> MarketplaceSpec | None:
        key = obj.marketplace if obj is not None else (request.GET.get("marketplace")
                                                       or request.POST.get("marketplace"))
        try:
            return spec_for(key or "")
        except LookupError:
            return None

    def get_form(self, request: HttpRequest, obj: MarketplaceAccount | None = None, change: bool = False,
                 **kwargs):
        spec = self._spec(request, obj)
        kwargs["form"] = account_form_for(spec) if spec else MarketplaceAccountForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: MarketplaceAccount | None = None):
        spec = self._spec(request, obj)
        if spec is None:
            return [(None, {"fields": BASE_FIELDS})]
        main = [*BASE_FIELDS, *(f"option_{o.key}" for o in spec.options)]
        sets: list[tuple[str | None, dict]] = [(f"{spec.label} account", {"fields": main})]
        if spec.has_auth_choice:
            sets.append(("Auth mode", {"fields": [AUTH]}))
        if obj is not None:
            sets.append(("Credentials (write-only)", {
                "fields": ["credentials_status", "clear_credentials"],
                "description": "Stored values are never displayed. Fill in only what you want to change.",
            }))
        for mode in spec.auth_modes:
            title = f"Credentials: {mode.label}" if spec.has_auth_choice else "Credential values"
            sets.append((title, {"fields": [f"credential_{f.key}" for f in mode.fields],
                                 "classes": ["auth-mode", f"auth-mode-{mode.key}"]}))
        sets.append(("Sending pace", {"fields": [*(["sending_pace"] if obj is not None else []), *PACE_FIELDS]}))
        if obj is not None:
            sets.append(("Status", {"fields": ["connection", "last_synced_at", "last_error", "created_at",
                                               "updated_at"]}))
            sets.append(("History of host and credential changes", {"fields": ["change_history"]}))
        return sets

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(order_total=Count("orders"))

    def save_model(self, request: HttpRequest, obj: MarketplaceAccount, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        account_change_record(account=obj, before=form.destination_before, actor=request.user,
                              source=Source.ADMIN, credentials_changed=form.credentials_changed)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None):
        if self._spec(request, None) is None:
            return TemplateResponse(request, self.choose_marketplace_template, {
                **self.admin_site.each_context(request), "opts": self.model._meta,
                "title": "Add a marketplace account: choose the marketplace",
                "marketplaces": list(specs().values()),
            })
        return super().add_view(request, form_url, extra_context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        view = sensitive_post_parameters(*secret_post_fields())(super().changeform_view)
        return view(request, object_id, form_url, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and request.method == "GET":
            mode = obj.spec.auth_mode(obj.auth_mode)
            if mode is not None and mode.deprecation:
                self.message_user(request, mode.deprecation, messages.WARNING)
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description="Changes")
    def change_history(self, obj: MarketplaceAccount) -> str:
        """Who changed the host, marketplace, auth mode or credentials, and when (key names only, no value)."""
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", (
            (date_format(localtime(c.created_at), "Y-m-d H:i:s"), c.actor or "—", c.source, ", ".join(c.changed),
             c.before.get("base_url", "—"), ", ".join(c.credential_keys) or "—")
            for c in obj.changes.select_related("actor")[:50]))
        return format_html('<table><thead><tr><th>When</th><th>Who</th><th>From</th><th>Changed</th>'
                           "<th>Host before</th><th>Credential keys now</th></tr></thead><tbody>{}</tbody></table>",
                           rows) if rows else "—"

    @admin.display(description="Credentials")
    def credentials_status(self, obj: MarketplaceAccount) -> str:
        return credentials_summary(obj.credentials) if obj.pk else "not configured"

    @admin.display(description="Credentials")
    def credentials_short(self, obj: MarketplaceAccount) -> str:
        """The list's column: set or not, the keys in the tooltip (the page shows them in full)."""
        summary = credentials_summary(obj.credentials)
        return format_html('<span title="{}">{}</span>', summary, summary.split(" (")[0])

    @admin.display(description="Auth mode")
    def auth_mode_shown(self, obj: MarketplaceAccount) -> str:
        mode = obj.spec.auth_mode(obj.auth_mode)
        return f"{obj.auth_mode} (deprecated)" if mode and mode.deprecation else obj.auth_mode

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

    @admin.display(description="Connection")
    def connection(self, obj: MarketplaceAccount) -> str:
        """The last "Test connection": what it found, or what failed and what to do next."""
        if not obj.connection_checked_at:
            return "Not tested yet (action “Test connection”)."
        ok = not obj.connection_result.startswith("Failed")
        return format_html('<span style="color:{};overflow-wrap:anywhere">{} {}</span> <small>({})</small>',
                           "#198754" if ok else "#ba2121",
                           "✔" if ok else "✘", obj.connection_result,
                           date_format(localtime(obj.connection_checked_at), "Y-m-d H:i:s"))

    @admin.action(description="Test connection (one read call)", permissions=["change"])
    def test_connection(self, request: HttpRequest, queryset) -> None:
        accounts = list(queryset)
        for account in accounts:
            connection_test_enqueue_on_commit(account.pk)
        self.message_user(request, f"Connection test started for {len(accounts)} account(s): each makes one read "
                                   "call; the result shows in the Connection column in a few seconds.")

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
