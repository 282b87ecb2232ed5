"""Bring orders, lines and cancellation reasons up to date from the marketplaces."""

from __future__ import annotations

import json

from django.core.management.base import CommandParser

from cancellations.management.cli import EXIT_REFUSED, AppCommand, CliError, account_by_name, moment_parse
from cancellations.marketplaces.base import MarketplaceError
from cancellations.models import MarketplaceAccount
from cancellations.services import orders_sync


class Command(AppCommand):
    help = "Sync orders from every enabled account (or one) and report counts. Exit 1 if an account failed."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--account", help="Account name, any case (default: every enabled account)")
        parser.add_argument("--since", help="A date (2026-11-01), a date-time in TIME_ZONE (2026-11-01T08:00) or "
                                            "with an offset (2026-11-01T08:00Z); default: since the last sync")

    def handle(self, *args, **opts) -> None:
        since = moment_parse(opts["since"], field="--since") if opts["since"] else None
        if opts["account"]:
            accounts = [account_by_name(opts["account"])]
        else:
            accounts = list(MarketplaceAccount.objects.filter(enabled=True).order_by("name"))
            if not accounts:
                raise CliError("nothing to sync: no enabled account", field="--account", returncode=EXIT_REFUSED)
        rows, failures = [], 0
        for account in accounts:
            try:
                report = orders_sync(account=account, since=since)
            except MarketplaceError as exc:
                failures += 1
                rows.append({"account": account.name, "error": {"code": exc.code, "message": exc.message}})
                if not self.as_json:
                    self.stderr.write(f"{account.name}: sync failed: {exc.code} {exc.message}")
                continue
            row = {"account": account.name, "pages": report.pages, "orders_created": report.orders_created,
                   "orders_updated": report.orders_updated, "lines_created": report.lines_created,
                   "lines_updated": report.lines_updated, "reasons": report.reasons}
            rows.append(row)
            if not self.as_json:
                self.stdout.write(f"{account.name}: pages={report.pages} orders created={report.orders_created} "
                                  f"updated={report.orders_updated} lines created={report.lines_created} "
                                  f"updated={report.lines_updated} reasons={report.reasons}")
        if self.as_json:
            self.stdout.write(json.dumps({"accounts": rows}, indent=2))
        if failures:
            raise CliError(f"{failures} account(s) could not be synced", returncode=EXIT_REFUSED,
                           reported=self.as_json)
