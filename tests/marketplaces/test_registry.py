"""The registry is the one list of marketplaces; specs declare what the rest of the product reads."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cancellations.marketplaces import registry
from cancellations.marketplaces.mirakl.backend import MiraklBackend
from cancellations.marketplaces.spec import CANCEL, MarketplaceSpec
from tests.fake_backend import FakeBackend


def test_choices_follow_the_settings_list(settings):
    assert [key for key, _ in registry.marketplace_choices()] == ["walmart_ca", "walmart_us", "mirakl"]
    settings.MARKETPLACES = ["cancellations.marketplaces.mirakl.spec.SPEC"]
    assert registry.marketplace_choices() == [("mirakl", "Mirakl")]
    with pytest.raises(LookupError, match="walmart_ca"):
        registry.spec_for("walmart_ca")


def test_backend_comes_from_the_spec_unless_replaced(settings):
    assert registry.backend_class("mirakl") is MiraklBackend
    settings.MARKETPLACE_BACKENDS = {"mirakl": "tests.fake_backend.FakeBackend"}
    assert registry.backend_class("mirakl") is FakeBackend
    with pytest.raises(LookupError):
        registry.backend_class("amazon")


@pytest.mark.parametrize("threshold", [Decimal("0"), Decimal("-0.01")])
def test_a_spec_without_a_positive_rate_threshold_is_refused(threshold):
    """A missing threshold must never read as 0 % (which shows every account over it)."""
    with pytest.raises(ValueError, match="rate_threshold"):
        MarketplaceSpec(key="x", label="X", backend="x.Backend", currency="EUR", line_operations={},
                        rate_threshold=threshold)


def test_a_spec_reads_line_statuses_case_insensitively():
    spec = registry.spec_for("walmart_ca")
    assert spec.operation_for("Acknowledged") == CANCEL
    assert spec.operation_for("Shipped") is None and spec.operation_for("") is None
