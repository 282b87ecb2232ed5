"""The events feed and webhook endpoints over the API (endpoints only for holders of ``manage_webhooks``)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import ValidationError

from ..integration_models import event_pk
from ..models import Event, WebhookEndpoint
from ..services.events import EVENT_TYPES
from ..services.webhooks import (
    event_payload,
    webhook_endpoint_create,
    webhook_events_problem,
    webhook_url_problem,
)
from .parsers import BoundedJSONParser
from .permissions import ModelPermissionsWithView, _HasPermissions

MANAGE_WEBHOOKS = "cancellations.manage_webhooks"


class CanManageWebhooks(_HasPermissions):
    """See, create, change and delete webhook endpoints (listing included)."""

    required = (MANAGE_WEBHOOKS,)


class EventSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="evt_…; ids sort in the order events happened.")
    type = serializers.ChoiceField(choices=EVENT_TYPES)
    created = serializers.DateTimeField()
    data = serializers.JSONField(help_text="The object as the API showed it when the event happened.")

    def to_representation(self, event: Event) -> dict:
        return event_payload(event)


@extend_schema_view(
    list=extend_schema(
        summary="Events in the order they happened (to catch up on missed webhooks)",
        parameters=[
            OpenApiParameter("after", OpenApiTypes.STR, description="Only events after this event id (evt_…)."),
            OpenApiParameter("type", OpenApiTypes.STR, enum=list(EVENT_TYPES), description="Only this type."),
        ],
    ),
    retrieve=extend_schema(summary="One event"),
)
class EventViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Event.objects.order_by("id")
    serializer_class = EventSerializer
    permission_classes = [ModelPermissionsWithView]
    lookup_value_regex = r"evt_\d+"

    def get_object(self):
        self.kwargs[self.lookup_field] = event_pk(self.kwargs[self.lookup_field])
        return super().get_object()

    def filter_queryset(self, queryset):
        params = self.request.query_params
        after = (params.get("after") or "").strip()
        if after:
            pk = event_pk(after)
            if pk is None:
                raise ValidationError({"after": ["Not an event id (evt_…)."]})
            queryset = queryset.filter(pk__gt=pk)
        event_type = (params.get("type") or "").strip()
        if event_type:
            if event_type not in EVENT_TYPES:
                raise ValidationError({"type": [f"Use one of: {', '.join(EVENT_TYPES)}."]})
            queryset = queryset.filter(type=event_type)
        return queryset


class WebhookEndpointSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.CharField(), help_text=f"Any of: {', '.join(EVENT_TYPES)}.")
    failing = serializers.SerializerMethodField(help_text="A delivery gave up after its retry window.")

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "events", "description", "enabled", "failing", "failing_since", "created_at"]
        read_only_fields = ["failing_since", "created_at"]

    def get_failing(self, endpoint: WebhookEndpoint) -> bool:
        return endpoint.failing_since is not None

    def validate_url(self, value: str) -> str:
        problem = webhook_url_problem(value)
        if problem:
            raise ValidationError(problem)
        return value

    def validate_events(self, value: list[str]) -> list[str]:
        problem = webhook_events_problem(value)
        if problem:
            raise ValidationError(problem)
        return sorted(set(value))

    def create(self, validated_data: dict) -> WebhookEndpoint:
        return webhook_endpoint_create(**validated_data)


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(source="signing_secret", read_only=True,
                                   help_text="whsec_…: signs every delivery. Shown only in this answer.")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


@extend_schema_view(
    list=extend_schema(summary="Webhook endpoints"),
    retrieve=extend_schema(summary="One webhook endpoint (never its secret)"),
    create=extend_schema(summary="Add a webhook endpoint", responses={201: WebhookEndpointCreatedSerializer},
                         description="The answer holds the signing secret; no later read shows it."),
    partial_update=extend_schema(summary="Change a webhook endpoint"),
    destroy=extend_schema(summary="Delete a webhook endpoint (its pending deliveries are dropped)"),
)
class WebhookEndpointViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                             mixins.UpdateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    queryset = WebhookEndpoint.objects.order_by("id")
    permission_classes = [CanManageWebhooks]
    parser_classes = [BoundedJSONParser]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_serializer_class(self):
        return WebhookEndpointCreatedSerializer if self.action == "create" else WebhookEndpointSerializer
