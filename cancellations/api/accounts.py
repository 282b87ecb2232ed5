"""Marketplace accounts over the API. Credentials are write-only and checked by shape, never echoed.

One serializer validates every account against its marketplace's spec; the OpenAPI schema shows one request
shape per marketplace (its credentials per auth mode and its options), derived from the same spec.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import cache

from django.db import transaction
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from ..credentials import AUTH, credentials_serializer, credentials_validate, options_validate
from ..marketplaces.base import ConfigurationError, validate_base_url
from ..marketplaces.registry import spec_for, specs
from ..marketplaces.spec import MarketplaceSpec, OptionField
from ..models import MarketplaceAccount, Source
from ..pacing import account_pace_of
from ..services.account_changes import (
    REBIND_MESSAGE,
    account_change_record,
    account_destination,
    credentials_rebind_required,
)

CREDENTIALS_HELP = "Write-only. Required on create; on update replaces the stored credentials as a whole."


class CredentialsField(serializers.JSONField):
    """Write-only; the shape depends on the marketplace (and its auth mode)."""


class PaceSerializer(serializers.Serializer):
    """The account's sending pace now, shared by every worker (read-only)."""

    sending = serializers.IntegerField(help_text="Cancel calls in flight now.")
    cap = serializers.IntegerField(help_text="Most cancel calls in flight at once (the account's or the default).")
    rate = serializers.FloatField(allow_null=True, help_text="Cancel calls per second now: the configured limit "
                                                              "or the pace learnt from 429s, whichever is lower; "
                                                              "null: no limit.")
    paused_until = serializers.DateTimeField(allow_null=True, help_text="Sends wait until then after a 429.")
    throttled = serializers.IntegerField(help_text="429 answers received lately.")


class AccountSerializer(serializers.ModelSerializer):
    credentials = CredentialsField(write_only=True, required=False, help_text=CREDENTIALS_HELP)
    credentials_configured = serializers.SerializerMethodField()
    options = serializers.DictField(required=False, help_text="The marketplace's options; 'auth' is set from the "
                                                              "credentials.")
    max_concurrent_sends = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=32767,
        help_text="Most cancel calls in flight at once for this account, all workers together (null: the "
                  "default, 16).",
        error_messages={"min_value": "max_concurrent_sends must be at least 1 (null: the default).",
                        "max_value": "max_concurrent_sends must be at most 32767.",
                        "invalid": "max_concurrent_sends must be a whole number (null: the default)."})
    rate_limit_per_second = serializers.DecimalField(
        required=False, allow_null=True, max_digits=7, decimal_places=2, min_value=Decimal("0.01"),
        help_text="Most cancel calls per second, if the marketplace gave this account a limit (null: none; a 429 "
                  "still pauses the account for its Retry-After).",
        error_messages={"min_value": "rate_limit_per_second must be above 0 (null: no limit).",
                        "invalid": "rate_limit_per_second must be a number of calls per second, such as 4 or "
                                   "0.5 (null: no limit).",
                        "max_decimal_places": "rate_limit_per_second has at most 2 decimal places.",
                        "max_digits": "rate_limit_per_second must be below 100000.",
                        "max_whole_digits": "rate_limit_per_second must be below 100000."})
    pace = serializers.SerializerMethodField()

    class Meta:
        model = MarketplaceAccount
        fields = ["id", "name", "marketplace", "base_url", "enabled", "options", "max_concurrent_sends",
                  "rate_limit_per_second", "pace", "last_synced_at", "last_error", "credentials_configured",
                  "credentials"]
        read_only_fields = ["last_synced_at", "last_error"]

    def get_credentials_configured(self, account: MarketplaceAccount) -> bool:
        return bool(account.credentials)

    @extend_schema_field(PaceSerializer)
    def get_pace(self, account: MarketplaceAccount) -> dict:
        view = account_pace_of(account)
        paused = datetime.fromtimestamp(view.paused_until, UTC) if view.paused_until else None
        return PaceSerializer({"sending": view.sending, "cap": view.cap, "rate": view.rate, "paused_until": paused,
                               "throttled": view.throttled}).data

    def validate_base_url(self, value: str) -> str:
        try:
            return validate_base_url(value)
        except ConfigurationError as exc:
            raise serializers.ValidationError(exc.message) from None

    def validate(self, attrs: dict) -> dict:
        account: MarketplaceAccount | None = self.instance
        marketplace = attrs.get("marketplace") or (account.marketplace if account else "")
        if account and marketplace != account.marketplace:
            raise serializers.ValidationError({"marketplace": ["An account's marketplace cannot change."]})
        if "credentials" in attrs:
            try:
                attrs["credentials"] = credentials_validate(marketplace, attrs["credentials"])
            except serializers.ValidationError as exc:
                raise serializers.ValidationError({"credentials": exc.detail}) from None
        elif account is None:
            raise serializers.ValidationError({"credentials": ["This field is required."]})
        elif credentials_rebind_required(account, {"marketplace": marketplace,
                                                   "base_url": attrs.get("base_url", account.base_url)}):
            raise serializers.ValidationError({"credentials": [REBIND_MESSAGE]})
        if "options" in attrs or "credentials" in attrs:
            attrs["options"] = self._options(spec_for(marketplace), attrs)
        return attrs

    @transaction.atomic
    def create(self, validated_data: dict) -> MarketplaceAccount:
        account = super().create(validated_data)
        self._audit(account, before=None, credentials_changed=True)
        return account

    @transaction.atomic
    def update(self, account: MarketplaceAccount, validated_data: dict) -> MarketplaceAccount:
        before = account_destination(account)
        account = super().update(account, validated_data)
        self._audit(account, before=before, credentials_changed="credentials" in validated_data)
        return account

    def _audit(self, account: MarketplaceAccount, *, before: dict | None, credentials_changed: bool) -> None:
        request = self.context.get("request")
        account_change_record(account=account, before=before, actor=getattr(request, "user", None),
                              source=Source.API, credentials_changed=credentials_changed)

    def _options(self, spec: MarketplaceSpec, attrs: dict) -> dict:
        account: MarketplaceAccount | None = self.instance
        try:
            options = options_validate(spec.key, attrs.get("options", account.options if account else {}))
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"options": exc.detail}) from None
        if spec.has_auth_choice:
            # The auth mode follows the credentials; it is never set on its own.
            credentials = attrs.get("credentials") or {}
            options[AUTH] = credentials.get(AUTH) or (account.auth_mode if account else spec.default_auth)
        return options


# --- the OpenAPI shapes, one per marketplace ------------------------------------------------------------


def _option_schema_field(option: OptionField) -> serializers.Field:
    help_text = option.help_text or None
    if option.boolean:
        return serializers.BooleanField(required=False, help_text=help_text)
    if option.choices:
        return serializers.ChoiceField(choices=option.choices, required=False, help_text=help_text)
    if option.integer_ok:
        help_text = " ".join(filter(None, [option.help_text, "A string or an integer."]))
    return serializers.CharField(required=False, help_text=help_text)


def _name(spec: MarketplaceSpec, suffix: str) -> str:
    return "".join(part.capitalize() for part in spec.key.split("_")) + suffix


@cache
def account_schema_serializer(marketplace: str) -> type[serializers.Serializer]:
    """The account request shape of one marketplace, for the OpenAPI schema (validation is ``AccountSerializer``)."""
    spec = spec_for(marketplace)
    modes = [credentials_serializer(spec.key, mode.key) for mode in spec.auth_modes]
    credentials_schema = modes[0] if len(modes) == 1 else PolymorphicProxySerializer(
        component_name=_name(spec, "Credentials"), serializers=modes, resource_type_field_name=None)
    option_fields = {option.key: _option_schema_field(option) for option in spec.options}
    if spec.has_auth_choice:
        option_fields[AUTH] = serializers.ChoiceField(
            choices=[m.key for m in spec.auth_modes], read_only=True, help_text="Set from the credentials.")
    options = type(_name(spec, "Options"), (serializers.Serializer,), option_fields)
    credentials_field = extend_schema_field(credentials_schema)(type(_name(spec, "CredentialsField"),
                                                                     (CredentialsField,), {}))
    return type(_name(spec, "Account"), (AccountSerializer,), {
        "__doc__": f"A {spec.label} account.",
        "marketplace": serializers.ChoiceField(choices=[(spec.key, spec.label)]),
        "credentials": credentials_field(write_only=True, required=False, help_text=CREDENTIALS_HELP),
        "options": options(required=False),
    })


def account_request_schema(*, partial: bool) -> PolymorphicProxySerializer:
    """One request shape per configured marketplace, told apart by ``marketplace`` (PATCH need not name it)."""
    return PolymorphicProxySerializer(
        component_name="AccountChange" if partial else "AccountCreate",
        serializers={key: account_schema_serializer(key) for key in specs()},
        resource_type_field_name=None if partial else "marketplace",
    )
