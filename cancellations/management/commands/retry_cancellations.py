"""Retry failed (and optionally rejected) cancellations."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from cancellations.models import Cancellation
from cancellations.services import CancellationStateError, cancellation_retry


class Command(BaseCommand):
    help = "Send failed cancellations again (all, or the given ids / account)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="*", type=int, help="Cancellation ids (default: every failed one)")
        parser.add_argument("--account", help="Only this account's")
        parser.add_argument("--include-rejected", action="store_true", help="Also retry rejected ones")

    def handle(self, *args, **opts) -> None:
        statuses = ["failed", "rejected"] if opts["include_rejected"] or opts["ids"] else ["failed"]
        qs = Cancellation.objects.filter(status__in=statuses).order_by("pk")
        if opts["ids"]:
            qs = qs.filter(pk__in=opts["ids"])
        if opts["account"]:
            qs = qs.filter(account__name=opts["account"])
        retried, refused = 0, 0
        for c in qs:
            try:
                cancellation_retry(cancellation=c, source="cli")
                retried += 1
            except CancellationStateError as exc:
                refused += 1
                self.stderr.write(f"#{c.pk}: {exc}")
        self.stdout.write(f"retried={retried} refused={refused}")
