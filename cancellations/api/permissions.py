"""Who may do what through the API: Django model permissions, plus the custom cancellation permission."""

from __future__ import annotations

from rest_framework.permissions import BasePermission, DjangoModelPermissions

REQUEST_CANCELLATION = "cancellations.request_cancellation"
CHANGE_ACCOUNT = "cancellations.change_marketplaceaccount"


class ModelPermissionsWithView(DjangoModelPermissions):
    """DjangoModelPermissions where reading needs the model's ``view_`` permission too."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }


class _HasPermissions(BasePermission):
    """An authenticated user holding every permission in ``required``."""

    required: tuple[str, ...] = ()

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perms(self.required))


class CanRequestCancellation(_HasPermissions):
    """Ask for, retry or verify cancellations on the marketplace."""

    required = (REQUEST_CANCELLATION,)


class CanChangeAccount(_HasPermissions):
    """Change a marketplace account or trigger its sync."""

    required = (CHANGE_ACCOUNT,)
