"""Marketplace credentials and options: the shapes each marketplace's spec declares, checked in one place.

Used by the API's account serializer (and its OpenAPI schema) and the admin's account form. Messages never
contain a secret. A marketplace that is not configured is refused, never read as another one.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .marketplaces.base import MarketplaceError
from .marketplaces.registry import spec_for
from .marketplaces.spec import AuthMode, CredentialField, MarketplaceSpec, OptionField

UNKNOWN_KEY = "Unknown field."
AUTH = "auth"


class _Credentials(serializers.Serializer):
    """Base for one credential shape: every key required, no other key allowed."""

    def to_internal_value(self, data: Any) -> dict:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({key: [UNKNOWN_KEY] for key in unknown})
        return super().to_internal_value(data)


def _checked(field: CredentialField):
    def validate(self, value: str) -> str:
        try:
            field.check(value)
        except (MarketplaceError, ValueError) as exc:  # their messages never contain the value
            raise serializers.ValidationError(getattr(exc, "message", None) or str(exc)) from None
        return value

    return validate


def _component(*words: str) -> str:
    return "".join(part.capitalize() for word in words for part in word.replace("-", "_").split("_"))


@cache
def credentials_serializer(marketplace: str, mode: str) -> type[serializers.Serializer]:
    """The serializer of one auth mode's credentials (also its OpenAPI component)."""
    spec = spec_for(marketplace)
    auth: AuthMode | None = spec.auth_mode(mode)
    if auth is None:
        raise LookupError(f"{marketplace} has no auth mode {mode!r}")
    attrs: dict[str, Any] = {}
    name = _component(spec.key, auth.key if spec.has_auth_choice else "", "credentials")
    if spec.auth_in_credentials:
        # One enum per shape in the OpenAPI schema (modes of several marketplaces share names like "oauth").
        schema = {"type": "string", "enum": [auth.key], "x-spec-enum-id": f"{name}.{AUTH}"}
        field_class = extend_schema_field(schema)(type(f"{name}Auth", (serializers.ChoiceField,), {}))
        attrs[AUTH] = field_class(choices=[auth.key])
    for field in auth.fields:
        attrs[field.key] = serializers.CharField(max_length=field.max_length, help_text=field.help_text or None)
        if field.check is not None:
            attrs[f"validate_{field.key}"] = _checked(field)
    return type(name, (_Credentials,), {"__doc__": f"{spec.label}: {auth.label}.", **attrs})


def credentials_mode(spec: MarketplaceSpec, data: Mapping[str, Any]) -> str:
    """The auth mode ``data`` is for, or a ValidationError on ``auth``."""
    if not spec.auth_in_credentials:
        return spec.default_auth
    auth = data.get(AUTH)
    if auth is None:
        raise serializers.ValidationError({AUTH: ["This field is required."]})
    if not isinstance(auth, str) or spec.auth_mode(auth) is None:
        raise serializers.ValidationError({AUTH: [f"Use one of: {', '.join(m.key for m in spec.auth_modes)}."]})
    return auth


@sensitive_variables("data")
def credentials_validate(marketplace: str, data: Any) -> dict:
    """The credentials in the shape ``marketplace`` expects, or a ValidationError naming each bad key."""
    try:
        spec = spec_for(marketplace)
    except LookupError:
        raise serializers.ValidationError([f"Unknown marketplace {marketplace!r}."]) from None
    if not isinstance(data, Mapping):
        raise serializers.ValidationError(["Expected an object."])
    serializer = credentials_serializer(spec.key, credentials_mode(spec, data))(data=data)
    if not serializer.is_valid():
        raise serializers.ValidationError(serializer.errors)
    return dict(serializer.validated_data)


def _option_error(option: OptionField, value: Any) -> str:
    if option.boolean:
        return "" if isinstance(value, bool) else "Must be true or false."
    if option.choices:
        return "" if value in ("", *option.choices) else f"Use one of: {', '.join(option.choices)}."
    kinds = (str, int) if option.integer_ok else (str,)
    if isinstance(value, bool) or not isinstance(value, kinds):
        return "Must be a string or an integer." if option.integer_ok else "Must be a string."
    return ""


def options_validate(marketplace: str, options: Mapping[str, Any]) -> dict:
    """Check each option the spec declares (``None`` means unset); undeclared keys are kept as given."""
    spec = spec_for(marketplace)
    errors = {}
    for option in spec.options:
        value = options.get(option.key)
        if value is not None and (message := _option_error(option, value)):
            errors[option.key] = [message]
    if errors:
        raise serializers.ValidationError(errors)
    return dict(options)
