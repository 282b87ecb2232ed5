"""Celery application. With no broker configured, tasks run eagerly (the embedded default)."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

app = Celery("backoffice")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's Django fixup closes every database connection before and after each task unless told to reuse them:
# a worker then opened one PostgreSQL session per task. Reuse them, and let Django's own rule decide as it does
# around web requests (close a connection older than CONN_MAX_AGE, or one left unusable by an error).
app.conf["CELERY_DB_REUSE_MAX"] = 10**9
app.autodiscover_tasks()


@task_prerun.connect(dispatch_uid="backoffice-db-prerun")
@task_postrun.connect(dispatch_uid="backoffice-db-postrun")
def _database_connections_tidy(sender=None, **kwargs) -> None:
    if not getattr(getattr(sender, "request", None), "is_eager", False):
        from django.db import close_old_connections

        close_old_connections()
