"""A deploy check: the marketplace emulator must not be mounted in production."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def sandbox_not_in_production(app_configs, **kwargs) -> list[Warning]:
    if settings.SANDBOX_ENABLED and not settings.DEBUG:
        return [Warning(
            "The marketplace sandbox is mounted under /sandbox/ with DEBUG off.",
            hint="Unset SANDBOX_ENABLED in production: the sandbox accepts any seller it was told about.",
            id="sandbox.W001",
        )]
    return []
