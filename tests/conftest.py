"""Shared fixtures. Services needed by some tests (PostgreSQL, Redis, Chromium) are detected, not assumed."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fast_marketplace_timeouts(settings):
    # Small read timeout so "slow response" faults are quick to provoke; connect stays generous.
    settings.MARKETPLACE_HTTP_TIMEOUT = (5.0, 2.0)
