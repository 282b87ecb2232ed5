from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "cancellations.sandbox"
    label = "sandbox"
    verbose_name = "Marketplace sandbox"
    default_auto_field = "django.db.models.BigAutoField"
