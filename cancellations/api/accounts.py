"""Marketplace accounts over the API. Credentials are write-only and checked by shape, never echoed."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from ..credentials import (
    MiraklCredentials,
    WalmartOAuthCredentials,
    WalmartSignatureCredentials,
    credentials_validate,
)
from ..marketplaces.base import ConfigurationError, validate_base_url
from ..models import Marketplace, MarketplaceAccount, Source, TaxMode
from ..services.account_changes import (
    REBIND_MESSAGE,
    account_change_record,
    account_destination,
    credentials_rebind_required,
)


@extend_schema_field(PolymorphicProxySerializer(
    component_name="AccountCredentials",
    serializers=[WalmartSignatureCredentials, WalmartOAuthCredentials, MiraklCredentials],
    resource_type_field_name=None,
))
class CredentialsField(serializers.JSONField):
    """Write-only; the shape depends on the marketplace (and for Walmart on ``auth``)."""


class AccountSerializer(serializers.ModelSerializer):
    credentials = CredentialsField(
        write_only=True, required=False,
        help_text="Write-only. Required on create; on update replaces the stored credentials as a whole.",
    )
    credentials_configured = serializers.SerializerMethodField()
    options = serializers.DictField(required=False, help_text="Mirakl: shop_id, tax_mode. Walmart: auth (set "
                                                              "from the credentials).")

    class Meta:
        model = MarketplaceAccount
        fields = ["id", "name", "marketplace", "base_url", "enabled", "options", "last_synced_at",
                  "last_error", "credentials_configured", "credentials"]
        read_only_fields = ["last_synced_at", "last_error"]

    def get_credentials_configured(self, account: MarketplaceAccount) -> bool:
        return bool(account.credentials)

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
            attrs["options"] = self._options(marketplace, attrs)
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

    def _options(self, marketplace: str, attrs: dict) -> dict:
        account: MarketplaceAccount | None = self.instance
        options = dict(attrs.get("options", account.options if account else {}))
        if marketplace == Marketplace.WALMART_CA:
            credentials = attrs.get("credentials") or (account.credentials if account else {})
            # The auth mode follows the credentials; it is never set on its own.
            stored = account.options.get("auth") if account else None
            options["auth"] = credentials.get("auth") or stored or "signature"
            return options
        errors = {}
        shop_id = options.get("shop_id")
        if shop_id is not None and (isinstance(shop_id, bool) or not isinstance(shop_id, str | int)):
            errors["shop_id"] = ["Must be a string or an integer."]
        if options.get("tax_mode") not in (None, "", *TaxMode.values):
            errors["tax_mode"] = [f"Use one of: {', '.join(TaxMode.values)}."]
        if errors:
            raise serializers.ValidationError({"options": errors})
        return options
