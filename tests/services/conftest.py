from __future__ import annotations

import pytest

from cancellations.models import MarketplaceReason
from tests.factories import account_create, line_create, order_create
from tests.fake_backend import FakeBackend


@pytest.fixture
def fake(settings):
    """Route both marketplaces to the in-process fake backend."""
    settings.MARKETPLACE_BACKENDS = {
        "mirakl": "tests.fake_backend.FakeBackend",
        "walmart_ca": "tests.fake_backend.FakeBackend",
    }
    settings.CANCELLATION_RETRY_BASE_SECONDS = 10
    FakeBackend.reset()
    yield FakeBackend
    FakeBackend.reset()


@pytest.fixture
def mirakl_account(db):
    account = account_create(marketplace="mirakl", name="bestbuy")
    MarketplaceReason.objects.create(account=account, code="34", label="Customer changed mind",
                                     normalised="customer_request")
    MarketplaceReason.objects.create(account=account, code="35", label="Out of stock", normalised="out_of_stock")
    return account


@pytest.fixture
def walmart_account(db):
    return account_create(marketplace="walmart_ca", name="walmart")


@pytest.fixture
def mirakl_order(mirakl_account):
    order = order_create(account=mirakl_account, external_id="M-1", lines=0)
    line_create(order=order, external_id="M-1-1", quantity=3, unit_price="10.00", shipping_price="3.00",
                taxes=[{"code": "GST", "amount": "1.50", "rule": "NONE"}])
    line_create(order=order, external_id="M-1-2", quantity=1, unit_price="25.00")
    return order
