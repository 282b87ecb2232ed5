"""What every manage.py command of this app shares: exit codes, --json errors, account names, dates.

Exit codes (the same for every command): 0 done, 1 refused or failed, 2 bad input, 3 timed out.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from cancellations.models import MarketplaceAccount

EXIT_DONE = 0
EXIT_REFUSED = 1
EXIT_BAD_INPUT = 2
EXIT_TIMEOUT = 3


class CliError(CommandError):
    """A command's answer when it did not do what was asked: one or more ``{field, message}`` errors."""

    def __init__(self, message: str, *, field: str | None = None, returncode: int = EXIT_BAD_INPUT,
                 errors: list[dict] | None = None, reported: bool = False) -> None:
        super().__init__(message, returncode=returncode)
        self.errors = errors if errors is not None else [{"field": field, "message": message}]
        self.reported = reported  # already in the command's own --json output


class AppCommand(BaseCommand):
    """A command with ``--json``: its errors print as JSON on stdout too, with the exit code."""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Machine-readable output, errors included")

    def execute(self, *args, **options):
        self.as_json = bool(options.get("json"))
        try:
            return super().execute(*args, **options)
        except CommandError as exc:
            if self.as_json and not getattr(exc, "reported", False):
                errors = getattr(exc, "errors", None) or [{"field": None, "message": str(exc)}]
                self.stdout.write(json.dumps({"errors": errors, "exit_code": exc.returncode}, indent=2))
            raise

    def emit(self, payload: dict, text: str) -> None:
        """Print ``payload`` as JSON with --json, else ``text``."""
        self.stdout.write(json.dumps(payload, indent=2, default=str) if self.as_json else text)


def account_by_name(name: str) -> MarketplaceAccount:
    """The account named ``name`` (any case), or a bad-input error listing the accounts there are."""
    account = MarketplaceAccount.objects.filter(name__iexact=name.strip()).first()
    if account is None:
        known = ", ".join(repr(n) for n in MarketplaceAccount.objects.order_by("name").values_list("name", flat=True))
        raise CliError(f"no account named {name!r}; accounts: {known or 'none yet'}", field="--account")
    return account


def moment_parse(value: str, *, field: str) -> datetime:
    """A date (its midnight), a naive date-time (in TIME_ZONE) or an aware one (ISO 8601, ``Z`` allowed)."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"{value!r} is not a date (2026-11-01) or a date-time (2026-11-01T08:00:00, "
                       "with an optional offset such as Z or -05:00)", field=field) from None
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)
