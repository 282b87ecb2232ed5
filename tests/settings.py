"""Test settings: the project's settings in development mode (as bin/test runs them)."""

import os

os.environ.setdefault("DJANGO_DEBUG", "true")

from backoffice.settings import *  # noqa: E402,F403
