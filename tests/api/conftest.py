"""API fixtures: the workflow fixtures of tests/services, users with chosen permissions, token clients."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from cancellations.models import Cancellation, CancellationEvent, IdempotencyRecord, MarketplaceCall
from tests.services.conftest import fake, mirakl_account, mirakl_order, walmart_account  # noqa: F401

VIEW_ALL = ("view_marketplaceaccount", "view_order", "view_cancellation", "view_inventoryadjustment")


def user_with(username: str, *codenames: str):
    user = get_user_model().objects.create_user(username=username)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="cancellations",
                                                        codename__in=codenames))
    return user


@pytest.fixture
def requester(db):
    return user_with("requester", "request_cancellation", *VIEW_ALL)


@pytest.fixture
def viewer(db):
    return user_with("viewer", *VIEW_ALL)


@pytest.fixture
def account_admin(db):
    return user_with("ops", "add_marketplaceaccount", "change_marketplaceaccount", *VIEW_ALL)


@pytest.fixture
def api() -> Callable[..., APIClient]:
    """``api(user)``: a client authenticated with the user's token; ``api()``: anonymous."""

    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


def db_counts() -> dict[str, int]:
    """What a refused request must leave unchanged."""
    return {model.__name__: model.objects.count()
            for model in (Cancellation, CancellationEvent, MarketplaceCall, IdempotencyRecord)}
