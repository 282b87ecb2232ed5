"""/api/: the REST endpoints, the OpenAPI schema and its offline docs (Swagger UI, Redoc)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from .integrations import EventViewSet, WebhookEndpointViewSet
from .views import AccountViewSet, CancellationViewSet, InventoryAdjustmentViewSet, OrderViewSet

REDOC_TEMPLATE = "api/redoc_offline.html"  # the stock page loads web fonts from Google

router = SimpleRouter()
router.register("accounts", AccountViewSet, basename="account")
router.register("orders", OrderViewSet, basename="order")
router.register("cancellations", CancellationViewSet, basename="cancellation")
router.register("inventory-adjustments", InventoryAdjustmentViewSet, basename="inventory-adjustment")
router.register("events", EventViewSet, basename="event")
router.register("webhook-endpoints", WebhookEndpointViewSet, basename="webhook-endpoint")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema", template_name=REDOC_TEMPLATE),
         name="api-redoc"),
    *router.urls,
]
