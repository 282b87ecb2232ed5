"""Marketplace credentials: the shape each marketplace (and Walmart auth mode) needs, checked in one place.

Used by the API's account serializer and the admin's account form. Messages never contain a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.views.decorators.debug import sensitive_variables
from rest_framework import serializers

from .marketplaces.base import MarketplaceError
from .marketplaces.walmart_ca.signing import load_private_key
from .models import Marketplace

UNKNOWN_KEY = "Unknown field."


class _Credentials(serializers.Serializer):
    """Base for one credential shape: every key required, no other key allowed."""

    def to_internal_value(self, data: Any) -> dict:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({key: [UNKNOWN_KEY] for key in unknown})
        return super().to_internal_value(data)


class WalmartSignatureCredentials(_Credentials):
    auth = serializers.ChoiceField(choices=["signature"])
    consumer_id = serializers.CharField(max_length=200)
    channel_type = serializers.CharField(max_length=200)
    private_key = serializers.CharField(max_length=10_000, help_text="Base64 PKCS#8 (Seller Center) or PEM.")

    def validate_private_key(self, value: str) -> str:
        try:
            load_private_key(value)
        except MarketplaceError as exc:  # its message never contains the key
            raise serializers.ValidationError(exc.message) from None
        return value


class WalmartOAuthCredentials(_Credentials):
    auth = serializers.ChoiceField(choices=["oauth"])
    client_id = serializers.CharField(max_length=200)
    client_secret = serializers.CharField(max_length=500)


class MiraklCredentials(_Credentials):
    api_key = serializers.CharField(max_length=500)


WALMART_SHAPES: dict[str, type[_Credentials]] = {
    "signature": WalmartSignatureCredentials, "oauth": WalmartOAuthCredentials,
}


@sensitive_variables("data")
def credentials_validate(marketplace: str, data: Any) -> dict:
    """The credentials in the shape ``marketplace`` expects, or a ValidationError naming each bad key."""
    if not isinstance(data, Mapping):
        raise serializers.ValidationError(["Expected an object."])
    if marketplace == Marketplace.WALMART_CA:
        auth = data.get("auth")
        if auth is None:
            raise serializers.ValidationError({"auth": ["This field is required."]})
        shape = WALMART_SHAPES.get(auth) if isinstance(auth, str) else None
        if shape is None:
            raise serializers.ValidationError({"auth": [f"Use one of: {', '.join(WALMART_SHAPES)}."]})
    else:
        shape = MiraklCredentials
    serializer = shape(data=data)
    if not serializer.is_valid():
        raise serializers.ValidationError(serializer.errors)
    return dict(serializer.validated_data)
