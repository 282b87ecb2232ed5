"""Django admin: accounts, orders and lines, cancellations and their trail, and the sandbox when enabled."""

from django.conf import settings
from django.contrib import admin

from . import accounts, cancellations, integrations, orders  # noqa: F401  (registration)

admin.site.site_header = admin.site.site_title = "Marketplace back-office"
admin.site.index_title = "Operations"
admin.site.enable_nav_sidebar = False  # the lists get the whole 1400 px

if settings.SANDBOX_ENABLED:
    from . import sandbox  # noqa: F401
