"""Inventory adjustments as CSV (``?format=csv``) and ``mark-exported`` (the filters are in filters.py)."""

from __future__ import annotations

import json

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings

from ..services.inventory_export import (
    UnknownAdjustments,
    inventory_adjustments_mark_exported,
    inventory_csv,
)
from .permissions import _HasPermissions

MAX_MARK_IDS = 10_000


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        # The list hands over finished CSV text; anything else (an error) goes out as JSON.
        return (data if isinstance(data, str) else json.dumps(data)).encode()


class CanMarkExported(_HasPermissions):
    required = ("cancellations.change_inventoryadjustment",)


class MarkExportedSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), allow_empty=False,
                                max_length=MAX_MARK_IDS)


class MarkedSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="Adjustments newly marked (those already exported keep their date).")


FORMAT_PARAMETER = OpenApiParameter("format", str, enum=["json", "csv"], description=(
    "csv: every matching adjustment (no paging), columns account, marketplace, sku, quantity, restock, "
    "cancellation, order, line, created, sku_restock_total (units of the SKU to restock across the file)."))


class InventoryExportMixin:
    """Mixed into the inventory adjustments viewset."""

    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, CSVRenderer]

    def get_permissions(self):
        return [CanMarkExported()] if self.action == "mark_exported" else super().get_permissions()

    def list(self, request, *args, **kwargs):
        if request.accepted_renderer.format == "csv":
            rows = self.filter_queryset(self.get_queryset()).select_related(
                "cancellation__line__order").order_by("created_at", "id")
            return Response(inventory_csv(rows), headers={
                "Content-Disposition": 'attachment; filename="inventory-adjustments.csv"'})
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Mark inventory adjustments exported", request=MarkExportedSerializer,
                   responses={200: MarkedSerializer,
                              400: OpenApiResponse(description="Errors by field (unknown ids); nothing marked.")})
    @action(detail=False, methods=["post"], url_path="mark-exported")
    def mark_exported(self, request):
        data = MarkExportedSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            marked = inventory_adjustments_mark_exported(ids=data.validated_data["ids"])
        except UnknownAdjustments as exc:
            return Response({"ids": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"marked": marked})
