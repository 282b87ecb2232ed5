"""Blank marketplace call bodies older than the retention period (CALL_BODY_RETENTION_DAYS), keeping metadata."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cancellations.services.call_retention import call_bodies_blank


class Command(BaseCommand):
    help = "Blank the request/response bodies and headers of marketplace calls older than N days."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None,
                            help=f"Age in days (default CALL_BODY_RETENTION_DAYS, {settings.CALL_BODY_RETENTION_DAYS})")

    def handle(self, *args, **opts) -> None:
        days = opts["days"]
        if days is not None and days < 0:
            raise CommandError("--days must be 0 or more")
        count = call_bodies_blank(older_than_days=days)
        self.stdout.write(f"Blanked the bodies of {count} call(s).")
