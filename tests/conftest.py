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


def _unavailable(reason: str) -> None:
    """Skip with a reason, or fail when CI says the service must be there (REQUIRE_SERVICES=1)."""
    import os

    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


@pytest.fixture
def postgres_only():
    from django.db import connection

    if connection.vendor != "postgresql":
        _unavailable("needs PostgreSQL (row locks with SKIP LOCKED); set DATABASE_URL=postgres://...")


@pytest.fixture
def redis_broker_url():
    import os
    import socket
    from urllib.parse import urlsplit

    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        _unavailable("needs a Redis broker; set CELERY_BROKER_URL=redis://127.0.0.1:6379/15")
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port or 6379), timeout=2).close()
    except OSError as exc:
        _unavailable(f"Redis at {parts.hostname}:{parts.port} is not reachable: {exc}")
    return url


@pytest.fixture(autouse=True)
def _walmart_token_cache_clear():
    """OAuth tokens are cached per process; a token from another test's sandbox must not leak in."""
    from cancellations.marketplaces.walmart_global import token_cache_clear

    token_cache_clear()
    yield
    token_cache_clear()


@pytest.fixture(autouse=True)
def _verify_without_grace(settings):
    """Read back at once after an unknown outcome; tests of the grace period set their own delay."""
    settings.CANCELLATION_VERIFY_DELAY_SECONDS = 0


@pytest.fixture(autouse=True)
def _marketplace_sessions_closed():
    """Kept-alive marketplace connections end with the test, so the live server's threads serving them finish
    while the test database is still theirs to close."""
    from cancellations.marketplaces.http_sessions import sessions_close

    yield
    sessions_close()


@pytest.fixture(autouse=True)
def _pace_fresh():
    """Each test starts with no account paused or busy (the pace state outlives a test's database)."""
    from cancellations.pacing import pace_store

    pace_store().clear()
    yield
    pace_store().clear()
