"""Shared fixtures. Services some tests need (PostgreSQL, Redis, Chromium) are detected, not assumed."""

from __future__ import annotations

import pytest

from backoffice.celery import app as celery_app


@pytest.fixture(autouse=True)
def _fast_marketplace_timeouts(settings):
    # Small read timeout so "slow response" faults are quick to provoke; connect stays generous.
    settings.MARKETPLACE_HTTP_TIMEOUT = (5.0, 2.0)


@pytest.fixture(autouse=True)
def _eager_celery():
    """Tasks run in-process in tests even when CELERY_BROKER_URL names a broker (the worker test opts out)."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before
