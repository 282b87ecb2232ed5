"""Issue 8 §8: who may do what, over every write endpoint of the API and every admin action.

Roles: anonymous, authenticated without permission, view-only, staff without the cancel permission (every other
permission of the app), with it, superuser. The tables below must list every write route and every action (a
new one fails the completeness checks until it is placed in the matrix).
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import RequestFactory
from django.urls import reverse

from cancellations.api.urls import router
from cancellations.models import Cancellation
from tests.factories import account_create, order_create

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "no_permission", "view_only", "staff_without_cancel", "canceller", "superuser"]
REQUEST = "request_cancellation"
# (method, route, permission codename that grants it)
API_WRITES = {
    ("post", "accounts/"): "add_marketplaceaccount",
    ("put", "accounts/{account}/"): "change_marketplaceaccount",
    ("patch", "accounts/{account}/"): "change_marketplaceaccount",
    ("post", "accounts/{account}/sync/"): "change_marketplaceaccount",
    ("post", "orders/{order}/cancel/"): REQUEST,
    ("post", "cancellations/"): REQUEST,
    ("post", "cancellations/{cancellation}/retry/"): REQUEST,
    ("post", "cancellations/{cancellation}/verify/"): REQUEST,
    ("post", "inventory-adjustments/mark-exported/"): "change_inventoryadjustment",
    ("post", "webhook-endpoints/"): "manage_webhooks",
    ("put", "webhook-endpoints/{webhook}/"): "manage_webhooks",
    ("patch", "webhook-endpoints/{webhook}/"): "manage_webhooks",
    ("delete", "webhook-endpoints/{webhook}/"): "manage_webhooks",
}
# (model, action) -> permission codename(s) that grant it
ADMIN_ACTIONS = {
    ("marketplaceaccount", "delete_selected"): "delete_marketplaceaccount",
    ("marketplaceaccount", "sync_orders_now"): "change_marketplaceaccount",
    ("marketplaceaccount", "test_connection"): "change_marketplaceaccount",
    ("marketplacereason", "delete_selected"): "delete_marketplacereason",
    ("order", "cancel_on_marketplace"): REQUEST,
    ("orderline", "cancel_on_marketplace"): REQUEST,
    ("webhookendpoint", "delete_selected"): "manage_webhooks",
    ("webhookdelivery", "redeliver"): "manage_webhooks",
    ("cancellation", "retry"): REQUEST,
    ("cancellation", "verify_now"): REQUEST,
    ("inventoryadjustment", "export_csv_and_mark_exported"): "EXPORT",
}


def _user(role: str):
    if role == "anonymous":
        return None
    users = get_user_model().objects
    if role == "superuser":
        return users.create_superuser(role, f"{role}@example.com", "x")
    user = users.create_user(role, is_staff=role != "no_permission")
    app = Permission.objects.filter(content_type__app_label="cancellations")
    perms = {"no_permission": app.none(), "view_only": app.filter(codename__startswith="view_"),
             "staff_without_cancel": app.exclude(codename=REQUEST),
             "canceller": app.filter(codename__startswith="view_") | app.filter(codename=REQUEST)}[role]
    user.user_permissions.set(perms)
    return get_user_model().objects.get(pk=user.pk)  # fresh permission cache


def _granted(user, codename: str) -> bool:
    if user is None:
        return False
    if codename == "EXPORT":
        from cancellations.admin.integrations import EXPORT_INVENTORY

        return user.has_perm(EXPORT_INVENTORY)
    return user.has_perm(f"cancellations.{codename}")


def test_every_api_write_route_is_in_the_matrix():
    routes = set()
    for pattern in router.urls:
        path = str(pattern.pattern).strip("^$").replace("(?P<pk>[^/.]+)", "{pk}")
        for method in getattr(pattern.callback, "actions", {}):
            if method in ("post", "put", "patch", "delete"):
                routes.add((method, path))
    listed = {(m, r.replace("{account}", "{pk}").replace("{order}", "{pk}").replace("{cancellation}", "{pk}")
               .replace("{webhook}", "{pk}")) for m, r in API_WRITES}
    assert routes == listed


def test_every_admin_action_is_in_the_matrix():
    request = RequestFactory().get("/")
    request.user = get_user_model()(is_superuser=True, is_staff=True, is_active=True)
    found = {(model._meta.model_name, name) for model, model_admin in admin.site._registry.items()
             if model._meta.app_label == "cancellations" for name in model_admin.get_actions(request)}
    assert found == set(ADMIN_ACTIONS)


@pytest.fixture
def objects(fake):
    from cancellations.models import WebhookEndpoint

    account = account_create(marketplace="mirakl")
    order = order_create(account=account)
    c = Cancellation.objects.create(line=order.lines.get(), account=account, quantity=1, reason_code="34",
                                    source="api", status="failed")
    webhook = WebhookEndpoint.objects.create(url="https://erp.example.com/hooks", events=["cancellation.confirmed"])
    return {"account": account.pk, "order": order.pk, "cancellation": c.pk, "webhook": webhook.pk}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "route"), list(API_WRITES))
def test_api_write_permissions(api, objects, role, method, route):
    user = _user(role)
    url = "/api/" + route.format(**objects)
    response = getattr(api(user), method)(url, {}, format="json")
    if user is None:
        assert response.status_code in (401, 403)
    elif _granted(user, API_WRITES[(method, route)]):
        assert response.status_code not in (401, 403), response.content[:200]
    else:
        assert response.status_code == 403, response.content[:200]


@pytest.mark.parametrize("role", [r for r in ROLES if r != "anonymous"])
@pytest.mark.parametrize(("model", "action"), list(ADMIN_ACTIONS))
def test_admin_action_permissions(role, model, action):
    user = _user(role)
    model_class = next(m for m in admin.site._registry if m._meta.model_name == model
                       and m._meta.app_label == "cancellations")
    request = RequestFactory().get("/")
    request.user = user
    offered = action in admin.site._registry[model_class].get_actions(request)
    assert offered == _granted(user, ADMIN_ACTIONS[(model, action)])


@pytest.mark.parametrize("role", ROLES)
def test_admin_confirmation_page_needs_the_cancel_permission(client, objects, role):
    user = _user(role)
    if user is not None:
        client.force_login(user)
    response = client.get(reverse("admin:cancellations_orderline_cancel"), {"ids": "1"})
    if user is None or not user.is_staff:
        assert response.status_code == 302 and "/login/" in response["Location"]
    elif _granted(user, REQUEST):
        assert response.status_code in (200, 302) and "/login/" not in response.get("Location", "")
    else:
        assert response.status_code == 403
