"""Test settings: the project's settings in development mode (as bin/test runs them)."""

import os

os.environ.setdefault("DJANGO_DEBUG", "true")

from backoffice.settings import *  # noqa: E402,F403

# Background work runs in the test's own thread, so a test sees the outcome when its request returns (the
# pool's own tests turn it on: tests/services/test_embedded_pool.py).
EMBEDDED_POOL_THREADS = 0
