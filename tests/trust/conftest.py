"""Fixtures of the trust tests: the API and admin ones, and fast password hashing."""

from tests.admin.conftest import _fast_password_hashing  # noqa: F401
from tests.api.conftest import api, requester, viewer  # noqa: F401
from tests.services.conftest import fake, mirakl_account, mirakl_order, walmart_account  # noqa: F401
