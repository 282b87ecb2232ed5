"""Plain query-parameter filters for the list endpoints (a bad value is a 400 naming the parameter)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from django.db.models import Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError

from ..models import CancellationStatus

_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def _param(params: Mapping[str, str], name: str) -> str:
    return (params.get(name) or "").strip()


def _boolean(params: Mapping[str, str], name: str) -> bool | None:
    value = _param(params, name).lower()
    if not value:
        return None
    if value in _TRUE | _FALSE:
        return value in _TRUE
    raise ValidationError({name: ["Use true or false."]})


def orders_filter(qs: QuerySet, params: Mapping[str, str]) -> QuerySet:
    if account := _param(params, "account"):
        qs = qs.filter(account__name=account)
    if external_id := _param(params, "external_id"):
        qs = qs.filter(external_id=external_id)
    if status := _param(params, "status"):
        qs = qs.filter(status__iexact=status)
    return qs


def cancellations_filter(qs: QuerySet, params: Mapping[str, str]) -> QuerySet:
    if status := _param(params, "status"):
        if status not in CancellationStatus.values:
            raise ValidationError({"status": [f"Use one of: {', '.join(CancellationStatus.values)}."]})
        qs = qs.filter(status=status)
    if account := _param(params, "account"):
        qs = qs.filter(account__name=account)
    if order := _param(params, "order"):
        match = Q(line__order__external_id=order)
        if order.isascii() and order.isdigit() and int(order) < 2**63:
            match |= Q(line__order_id=int(order))
        qs = qs.filter(match)
    if request_id := _param(params, "request_id"):
        try:
            qs = qs.filter(request_id=uuid.UUID(request_id))
        except ValueError:
            raise ValidationError({"request_id": ["Not a valid UUID."]}) from None
    return qs


def inventory_adjustments_filter(qs: QuerySet, params: Mapping[str, str]) -> QuerySet:
    pending = _boolean(params, "pending")
    if pending is not None:
        qs = qs.filter(exported_at__isnull=pending)
    if account := _param(params, "account"):
        qs = qs.filter(account__name=account)
    return qs


def _query(name: str, description: str, type_=OpenApiTypes.STR, **kwargs) -> OpenApiParameter:
    return OpenApiParameter(name, type_, OpenApiParameter.QUERY, required=False, description=description,
                            **kwargs)


ORDER_PARAMETERS = [
    _query("account", "Account name."),
    _query("external_id", "The marketplace's order id."),
    _query("status", "Order status as the marketplace reports it (case-insensitive)."),
]
CANCELLATION_PARAMETERS = [
    _query("status", "Cancellation status.", enum=CancellationStatus.values),
    _query("account", "Account name."),
    _query("order", "Order id (ours) or the marketplace's order id."),
    _query("request_id", "The request that created the cancellations.", OpenApiTypes.UUID),
]
INVENTORY_PARAMETERS = [
    _query("pending", "true: not yet exported in an inventory feed; false: exported.", OpenApiTypes.BOOL),
    _query("account", "Account name."),
]
