from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "cancellations.sandbox"
    label = "sandbox"
    verbose_name = "Marketplace sandbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        from . import checks  # noqa: F401  (registers the deploy check)

        if settings.SANDBOX_ENABLED:
            # Walmart's headers (WM_SEC.AUTH_SIGNATURE...) contain underscores, which runserver drops.
            from .endpoint import dev_server_patch

            dev_server_patch()
