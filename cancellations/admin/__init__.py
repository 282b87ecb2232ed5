"""Django admin: accounts, orders and lines, cancellations and their trail, and the sandbox when enabled."""

from django.conf import settings

from . import accounts, cancellations, integrations, orders  # noqa: F401  (registration)

if settings.SANDBOX_ENABLED:
    from . import sandbox  # noqa: F401
