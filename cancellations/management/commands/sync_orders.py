"""Bring orders, lines and cancellation reasons up to date from the marketplaces."""

from __future__ import annotations

from datetime import datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from cancellations.marketplaces.base import MarketplaceError
from cancellations.models import MarketplaceAccount
from cancellations.services import orders_sync


def _since(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--since: {value!r} is not an ISO 8601 date or time") from None
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, timezone.UTC)


class Command(BaseCommand):
    help = "Sync orders from every enabled account (or one) and report counts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", help="Account name (default: every enabled account)")
        parser.add_argument("--since", help="ISO 8601 start (default: since the last sync, or 30 days)")

    def handle(self, *args, **opts) -> None:
        since = _since(opts["since"]) if opts["since"] else None
        accounts = MarketplaceAccount.objects.filter(enabled=True)
        if opts["account"]:
            accounts = MarketplaceAccount.objects.filter(name=opts["account"])
            if not accounts:
                raise CommandError(f"--account: no account named {opts['account']!r}")
        failures = 0
        for account in accounts:
            try:
                report = orders_sync(account=account, since=since)
            except MarketplaceError as exc:
                failures += 1
                self.stderr.write(f"{account.name}: {type(exc).__name__}: {exc.code} {exc.message}")
                continue
            self.stdout.write(
                f"{account.name}: pages={report.pages} orders created={report.orders_created} "
                f"updated={report.orders_updated} lines created={report.lines_created} "
                f"updated={report.lines_updated} reasons={report.reasons}"
            )
        if failures:
            raise CommandError(f"{failures} account(s) could not be synced")
