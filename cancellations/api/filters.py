"""The list endpoints' filters as django-filter FilterSets (the OpenAPI schema documents each of them).

Strict on purpose: an unknown account, status or parameter name is a 400 naming it, never an empty (or full)
page that looks like an answer. The admin's list filters offer the same dimensions.
"""

from __future__ import annotations

import django_filters as df
from django import forms
from django.db.models import Q, QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError

from ..marketplaces.registry import marketplace_choices, specs
from ..models import (
    Cancellation,
    CancellationReason,
    CancellationStatus,
    InventoryAdjustment,
    MarketplaceAccount,
    Order,
)
from ..models import Source as CancellationSource
from ..selectors.dashboard import needs_attention_q
from ..services.inventory_export import EXPORT_STATUSES

# Query parameters that are not filters (pagination, format negotiation).
NOT_FILTERS = {"limit", "offset", "format"}


class AccountNameField(forms.CharField):
    """An account name in any case, cleaned to the account; an unknown one lists the valid names."""

    def clean(self, value):
        name = super().clean(value)
        if not name:
            return None
        account = MarketplaceAccount.objects.filter(name__iexact=name.strip()).first()
        if account is None:
            known = ", ".join(MarketplaceAccount.objects.order_by("name").values_list("name", flat=True))
            raise forms.ValidationError(f"No account named {name!r}. Accounts: {known or 'none'}.")
        return account


class AccountFilter(df.Filter):
    field_class = AccountNameField

    def __init__(self, *, field_name: str = "account", **kwargs) -> None:
        kwargs.setdefault("help_text", "Account name (any case).")
        super().__init__(field_name=field_name, **kwargs)


class YesNoField(forms.Field):
    """true/false (also 1/0, yes/no, any case); anything else is an error, not "no filter"."""

    _VALUES = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}

    def clean(self, value):
        if value in (None, ""):
            return None
        try:
            return self._VALUES[str(value).strip().lower()]
        except KeyError:
            raise forms.ValidationError("Use true or false.") from None


class StrictBooleanFilter(df.Filter):
    field_class = YesNoField


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter's backend for lists, plus: a parameter that is not a filter of this list is a 400."""

    def filter_queryset(self, request, queryset, view):
        if getattr(view, "action", "list") != "list":  # details and actions are reached by id, not filtered
            return queryset
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None:
            unknown = sorted(set(request.query_params) - set(filterset_class.base_filters) - NOT_FILTERS)
            if unknown:
                valid = ", ".join(sorted(filterset_class.base_filters))
                raise ValidationError({name: [f"Not a filter of this list. Filters: {valid}."] for name in unknown})
        return super().filter_queryset(request, queryset, view)


def ids_named(attribute: str) -> str:
    """What each configured marketplace calls an id (its spec's ``order_id_label`` or ``line_id_label``)."""
    return ", ".join(f"{spec.label}: {getattr(spec, attribute)}" for spec in specs().values())


class OrderFilter(df.FilterSet):
    account = AccountFilter()
    marketplace = df.ChoiceFilter(field_name="account__marketplace", choices=marketplace_choices)
    external_id = df.CharFilter(help_text=f"The marketplace's order id ({ids_named('order_id_label')}).")
    line_external_id = df.CharFilter(field_name="lines__external_id", distinct=True,
                                     help_text="The marketplace's id of one of the order's lines.")
    status = df.CharFilter(lookup_expr="iexact", help_text="Order status as the marketplace reports it (any case).")
    updated_since = df.IsoDateTimeFilter(field_name="synced_at", lookup_expr="gte",
                                         help_text="Created or changed by a sync at or after this time (ISO 8601).")

    class Meta:
        model = Order
        fields: list[str] = []


class CancellationFilter(df.FilterSet):
    status = df.ChoiceFilter(choices=CancellationStatus.choices)
    needs_attention = StrictBooleanFilter(method="_needs_attention",
                                          help_text="true: failed, rejected or stuck (as the dashboard counts).")
    account = AccountFilter()
    marketplace = df.ChoiceFilter(field_name="account__marketplace", choices=marketplace_choices)
    source = df.ChoiceFilter(choices=CancellationSource.choices)
    reason = df.ChoiceFilter(choices=CancellationReason.choices, help_text="The normalised reason.")
    order = df.CharFilter(method="_order", help_text="The marketplace's order id (or our order id).")
    line_external_id = df.CharFilter(field_name="line__external_id",
                                     help_text=f"The marketplace's line id ({ids_named('line_id_label')}).")
    request_id = df.UUIDFilter(help_text="The request that created the cancellations.")
    updated_since = df.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte",
                                         help_text="Changed at or after this time (ISO 8601).")

    class Meta:
        model = Cancellation
        fields: list[str] = []

    def _needs_attention(self, qs: QuerySet, name: str, value: bool) -> QuerySet:
        return qs.filter(needs_attention_q()) if value else qs.exclude(needs_attention_q())

    def _order(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        match = Q(line__order__external_id=value)
        if value.isascii() and value.isdigit() and int(value) < 2**63:  # a hostile id never overflows
            match |= Q(line__order_id=int(value))
        return qs.filter(match)


class InventoryAdjustmentFilter(df.FilterSet):
    pending = StrictBooleanFilter(field_name="exported_at", method="_pending",
                                  help_text="true: not yet exported in an inventory feed; false: exported.")
    status = df.ChoiceFilter(choices=[(s, s) for s in EXPORT_STATUSES], method="_status",
                             help_text="pending: not yet in an inventory feed; exported: marked exported. "
                                       "With format=csv the same filters apply.")
    account = AccountFilter()
    sku = df.CharFilter()

    class Meta:
        model = InventoryAdjustment
        fields: list[str] = []

    def _pending(self, qs: QuerySet, name: str, value: bool) -> QuerySet:
        return qs.filter(exported_at__isnull=value)

    def _status(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        return qs.filter(exported_at__isnull=value == "pending")
