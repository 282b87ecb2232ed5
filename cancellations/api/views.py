"""API views. They read through selectors and write through services; none of them talks to a marketplace."""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from ..models import (
    Cancellation,
    CancellationEvent,
    InventoryAdjustment,
    MarketplaceAccount,
    OrderLine,
    Source,
)
from ..selectors import order_list
from ..services import (
    CancellationRequestError,
    CancellationStateError,
    LineError,
    LineRequest,
    cancellation_retry,
    cancellation_verify_request,
    orders_sync_request,
)
from ..services.cancellation_request import line_is_cancellable
from . import filters
from .accounts import AccountSerializer, account_request_schema
from .cancel_input import CancellationInputSerializer, OrderCancelInputSerializer, line_requests
from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .inventory_export import FORMAT_PARAMETER, InventoryExportMixin
from .parsers import BoundedJSONParser
from .permissions import CanChangeAccount, CanRequestCancellation, ModelPermissionsWithView
from .serializers import (
    CancellationAcceptedSerializer,
    CancellationDetailSerializer,
    CancellationSerializer,
    DetailSerializer,
    InventoryAdjustmentSerializer,
    OrderSerializer,
    QueuedSerializer,
    RequestErrorsSerializer,
)
from .submission import cancellations_with_calls, submit

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description="Any unique string (at most 200 characters). Repeating a request with the same key and body "
                "returns the first answer and creates nothing; the same key with another body is a 409.",
)
CANCEL_RESPONSES = {
    202: OpenApiResponse(CancellationAcceptedSerializer,
                         description="Recorded; the cancellations are sent in the background."),
    400: OpenApiResponse(RequestErrorsSerializer,
                         description="Refused whole (nothing recorded); each error names line and field."),
    403: OpenApiResponse(DetailSerializer, description="Missing the request_cancellation permission."),
    409: OpenApiResponse(DetailSerializer,
                         description="Idempotency-Key reused with another body, or still in progress."),
}
STATE_RESPONSES = {
    202: OpenApiResponse(CancellationDetailSerializer,
                         description="Accepted; the work runs in the background."),
    409: OpenApiResponse(DetailSerializer, description="Not possible in the cancellation's current status."),
}


@extend_schema_view(
    list=extend_schema(summary="List marketplace accounts"),
    retrieve=extend_schema(summary="One marketplace account"),
    create=extend_schema(summary="Create a marketplace account",
                         request=account_request_schema(partial=False), responses={201: AccountSerializer},
                         description="The credentials and options depend on the marketplace (one shape each, "
                                     "below). Credentials are write-only. Reason codes a marketplace documents "
                                     "are known without a sync; those it lists arrive with the first sync."),
    partial_update=extend_schema(summary="Change a marketplace account", request=account_request_schema(partial=True),
                                 responses={200: AccountSerializer}),
)
class AccountViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                     mixins.UpdateModelMixin, viewsets.GenericViewSet):
    queryset = MarketplaceAccount.objects.order_by("name")
    serializer_class = AccountSerializer
    permission_classes = [ModelPermissionsWithView]
    parser_classes = [BoundedJSONParser]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_permissions(self):
        return [CanChangeAccount()] if self.action == "sync" else super().get_permissions()

    @extend_schema(summary="Sync the account's orders in the background", request=None,
                   responses={202: QueuedSerializer, 409: DetailSerializer})
    @action(detail=True, methods=["post"])
    def sync(self, request, pk=None):
        account = self.get_object()
        if not account.enabled:
            return Response({"detail": "The account is disabled."}, status=status.HTTP_409_CONFLICT)
        orders_sync_request(account=account, user=request.user)
        return Response({"status": "queued"}, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    list=extend_schema(summary="List orders with their lines"),
    retrieve=extend_schema(summary="One order with its lines"),
)
class OrderViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = OrderSerializer
    permission_classes = [ModelPermissionsWithView]
    parser_classes = [BoundedJSONParser]

    def get_queryset(self):
        lines = OrderLine.objects.with_in_flight().order_by("id")
        return order_list().prefetch_related(Prefetch("lines", queryset=lines))

    def get_permissions(self):
        return [CanRequestCancellation()] if self.action == "cancel" else super().get_permissions()

    filter_backends = [filters.StrictFilterBackend]
    filterset_class = filters.OrderFilter

    @extend_schema(summary="Cancel lines of this order", request=OrderCancelInputSerializer,
                   parameters=[IDEMPOTENCY_PARAMETER], responses=CANCEL_RESPONSES)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        order = self.get_object()
        own = list(order.lines.with_in_flight().select_related("order__account"))

        def lines_from(data) -> list[LineRequest]:
            if data.get("lines") is None:
                every = [LineRequest(line_id=line.pk) for line in own if line_is_cancellable(line)]
                if not every:
                    nothing = LineError(None, "lines", "No line of this order can still be cancelled.")
                    raise CancellationRequestError([nothing])
                return every
            ids = {line.pk for line in own}
            strangers = [LineError(item["line"], "line", f"Not a line of order {order.external_id}.")
                         for item in data["lines"] if item["line"] not in ids]
            if strangers:
                raise CancellationRequestError(strangers)
            return line_requests(data["lines"])

        return submit(request, OrderCancelInputSerializer, lines_from)


@extend_schema_view(
    list=extend_schema(summary="List cancellations"),
    retrieve=extend_schema(summary="One cancellation with its calls (metadata, no bodies) and history"),
)
class CancellationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [ModelPermissionsWithView]
    parser_classes = [BoundedJSONParser]

    def get_queryset(self):
        if self.action in ("retry", "verify"):
            return Cancellation.objects.all()
        qs = cancellations_with_calls()
        if self.action == "retrieve":
            qs = qs.prefetch_related(
                Prefetch("events", queryset=CancellationEvent.objects.select_related("actor").order_by("id"))
            )
        return qs

    def get_serializer_class(self):
        return CancellationDetailSerializer if self.action == "retrieve" else CancellationSerializer

    def get_permissions(self):
        if self.action in ("create", "retry", "verify"):
            return [CanRequestCancellation()]
        return super().get_permissions()

    filter_backends = [filters.StrictFilterBackend]
    filterset_class = filters.CancellationFilter

    @extend_schema(summary="Ask for cancellations of order lines (any orders, any accounts)",
                   request=CancellationInputSerializer, parameters=[IDEMPOTENCY_PARAMETER],
                   responses=CANCEL_RESPONSES)
    def create(self, request):
        return submit(request, CancellationInputSerializer, lambda data: line_requests(data["lines"]))

    @extend_schema(summary="Send a failed or rejected cancellation again", request=None,
                   responses=STATE_RESPONSES)
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        return self._state_change(cancellation_retry)

    @extend_schema(summary="Read the order back now to settle an unknown outcome", request=None,
                   responses=STATE_RESPONSES)
    @action(detail=True, methods=["post"])
    def verify(self, request, pk=None):
        return self._state_change(cancellation_verify_request)

    def _state_change(self, service) -> Response:
        cancellation = self.get_object()
        try:
            service(cancellation=cancellation, user=self.request.user, source=Source.API)
        except CancellationStateError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        fresh = cancellations_with_calls().prefetch_related("events__actor").get(pk=cancellation.pk)
        return Response(CancellationDetailSerializer(fresh).data, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(list=extend_schema(summary="Inventory adjustments owed after confirmed cancellations",
                                       parameters=[FORMAT_PARAMETER]))
class InventoryAdjustmentViewSet(InventoryExportMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    queryset = InventoryAdjustment.objects.select_related("account").order_by("-created_at", "-id")
    serializer_class = InventoryAdjustmentSerializer
    permission_classes = [ModelPermissionsWithView]
    filter_backends = [filters.StrictFilterBackend]
    filterset_class = filters.InventoryAdjustmentFilter
