"""Test settings: the project's settings in development mode (as bin/test runs them).

Independent of the developer's checkout: the `.env` that bin/demo writes is not read and the data folder is a
fresh temporary one. Subprocesses the tests start (manage.py, the demo) inherit both.
"""

import atexit
import os
import shutil
import tempfile

os.environ["DJANGO_ENV_FILE"] = ""
if "BACKOFFICE_TESTS_DATA_DIR" not in os.environ:  # the pytest process (its subprocesses keep what they're given)
    os.environ["BACKOFFICE_TESTS_DATA_DIR"] = os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="backoffice-tests-")
    atexit.register(shutil.rmtree, os.environ["DATA_DIR"], ignore_errors=True)
os.environ.setdefault("DJANGO_DEBUG", "true")

from backoffice.settings import *  # noqa: E402,F403

# Background work runs in the test's own thread, so a test sees the outcome when its request returns (the
# pool's own tests turn it on: tests/services/test_embedded_pool.py).
EMBEDDED_POOL_THREADS = 0

# Tests use the documentation domains (RFC 2606) as marketplace hosts besides the real ones.
MARKETPLACE_ALLOWED_HOSTS = [*MARKETPLACE_ALLOWED_HOSTS, "*.example.com", "*.example.net"]  # noqa: F405
