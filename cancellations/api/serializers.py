"""Read representations of orders, cancellations, calls and inventory adjustments, and the error shapes."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from rest_framework import serializers

from ..models import (
    Cancellation,
    CancellationEvent,
    InventoryAdjustment,
    MarketplaceCall,
    Order,
    OrderLine,
)


class TaxAmountSerializer(serializers.Serializer):
    code = serializers.CharField()
    amount = serializers.CharField(help_text="Decimal amount as a string.")


class OrderLineSerializer(serializers.ModelSerializer):
    cancellable_quantity = serializers.IntegerField(
        read_only=True, help_text="Units not cancelled yet and not held by a cancellation in flight; 0 when the "
                                  "line's status allows no cancel (shipped, received, closed, refused, cancelled)."
    )

    class Meta:
        model = OrderLine
        fields = ["id", "external_id", "sku", "title", "quantity", "cancelled_quantity",
                  "cancellable_quantity", "status", "unit_price", "price"]
        read_only_fields = fields


class OrderSerializer(serializers.ModelSerializer):
    account = serializers.SlugRelatedField(slug_field="name", read_only=True)
    lines = OrderLineSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = ["id", "account", "external_id", "customer_order_id", "status", "currency", "ordered_at",
                  "tax_mode", "synced_at", "lines"]
        read_only_fields = fields


class MarketplaceCallSerializer(serializers.ModelSerializer):
    """A call's metadata. Never its headers or bodies: they hold customer data (names, addresses, phones)."""

    class Meta:
        model = MarketplaceCall
        fields = ["id", "operation", "batch_key", "state", "method", "url", "status_code", "duration_ms",
                  "correlation_id", "error", "created_at", "completed_at"]
        read_only_fields = fields


class CancellationEventSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = CancellationEvent
        fields = ["from_status", "to_status", "actor", "source", "message", "created_at"]
        read_only_fields = fields


class CancellationSerializer(serializers.ModelSerializer):
    line_external_id = serializers.CharField(source="line.external_id", read_only=True)
    sku = serializers.CharField(source="line.sku", read_only=True)
    order = serializers.IntegerField(source="line.order_id", read_only=True)
    order_external_id = serializers.CharField(source="line.order.external_id", read_only=True)
    account = serializers.SlugRelatedField(slug_field="name", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    taxes = TaxAmountSerializer(many=True, read_only=True)
    shipping_taxes = TaxAmountSerializer(many=True, read_only=True)
    fees = TaxAmountSerializer(many=True, read_only=True)
    calls = MarketplaceCallSerializer(many=True, read_only=True)

    class Meta:
        model = Cancellation
        fields = ["id", "request_id", "line", "line_external_id", "sku", "order", "order_external_id",
                  "account", "quantity", "status", "reason_code", "reason", "note", "amount",
                  "shipping_amount", "taxes", "shipping_taxes", "fees", "currency", "marketplace_reference",
                  "error_code", "error_message", "attempts", "next_attempt_at", "restock", "source",
                  "requested_by", "created_at", "confirmed_at", "calls"]
        read_only_fields = fields


class CancellationDetailSerializer(CancellationSerializer):
    events = CancellationEventSerializer(many=True, read_only=True)

    class Meta(CancellationSerializer.Meta):
        fields = [*CancellationSerializer.Meta.fields, "events"]
        read_only_fields = fields


class InventoryAdjustmentSerializer(serializers.ModelSerializer):
    account = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = InventoryAdjustment
        fields = ["id", "account", "cancellation", "sku", "quantity", "restock", "exported_at", "created_at"]
        read_only_fields = fields


# --------------------------------------------------------------------------------------- answer shapes


_built = threading.local()


def as_api(serializer_class: type[serializers.Serializer], objects: Iterable) -> list[dict]:
    """``serializer_class(objects, many=True).data``, with the serializer built once per thread.

    DRF builds a serializer's fields anew for every instance (deep copies, model introspection), which cost
    more than representing a few rows; the representation itself only reads the object, so one instance per
    thread can serve every call.
    """
    cache = _built.__dict__.setdefault("serializers", {})
    serializer = cache.get(serializer_class)
    if serializer is None:
        serializer = cache[serializer_class] = serializer_class()
    return [serializer.to_representation(o) for o in objects]


class CancellationAcceptedSerializer(serializers.Serializer):
    request_id = serializers.UUIDField()
    cancellations = CancellationSerializer(many=True)


class RequestErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField(allow_null=True, help_text="The order line concerned; null: the request.")
    field = serializers.CharField(help_text="lines, line, quantity, reason, note, body or Idempotency-Key.")
    message = serializers.CharField()


class RequestErrorsSerializer(serializers.Serializer):
    errors = RequestErrorSerializer(many=True)


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


class QueuedSerializer(serializers.Serializer):
    status = serializers.CharField(help_text='Always "queued".')
