from django.conf import settings
from django.contrib import admin
from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    # Browsers ask for /favicon.ico on every page (the API docs too); the admin's <link rel="icon"> names it.
    path("favicon.ico", lambda request: HttpResponsePermanentRedirect(static("cancellations/favicon.svg"))),
    path("admin/", admin.site.urls),
    path("api/", include("cancellations.api.urls")),
]

if settings.SANDBOX_ENABLED:
    urlpatterns.append(path("sandbox/", include("cancellations.sandbox.urls")))
