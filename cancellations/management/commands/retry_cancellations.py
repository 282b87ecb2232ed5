"""Retry failed (and optionally rejected) cancellations."""

from __future__ import annotations

from django.core.management.base import CommandParser

from cancellations.management.cli import EXIT_REFUSED, AppCommand, CliError, account_by_name
from cancellations.models import Cancellation
from cancellations.services import CancellationStateError, cancellation_retry


class Command(AppCommand):
    help = ("Send failed cancellations again (all, or the given ids / account). "
            "Exit 0 when all asked were retried, 1 when some were refused, 2 for unknown ids or account.")

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("ids", nargs="*", type=int, help="Cancellation ids (default: every failed one)")
        parser.add_argument("--account", help="Only this account's (name, any case)")
        parser.add_argument("--include-rejected", action="store_true", help="Also retry rejected ones")

    def handle(self, *args, **opts) -> None:
        qs = Cancellation.objects.select_related("line").order_by("pk")
        if opts["account"]:
            qs = qs.filter(account=account_by_name(opts["account"]))
        if opts["ids"]:
            qs = qs.filter(pk__in=opts["ids"])
            missing = sorted(set(opts["ids"]) - set(qs.values_list("pk", flat=True)))
            if missing:
                where = f" of account {opts['account']!r}" if opts["account"] else ""
                raise CliError(f"no such cancellation{where}: {', '.join(f'#{pk}' for pk in missing)}",
                               field="ids")
        else:
            qs = qs.filter(status__in=["failed", "rejected"] if opts["include_rejected"] else ["failed"])
        rows = []
        for c in qs:
            try:
                cancellation_retry(cancellation=c, source="cli")
                rows.append({"id": c.pk, "line": c.line.external_id, "retried": True})
            except CancellationStateError as exc:
                rows.append({"id": c.pk, "line": c.line.external_id, "retried": False, "reason": str(exc)})
        retried = sum(r["retried"] for r in rows)
        refused = [r for r in rows if not r["retried"]]
        text = [f"#{r['id']} (line {r['line']}): refused: {r['reason']}" for r in refused]
        text.append(f"retried={retried} refused={len(refused)}")
        if not rows:
            kinds = "failed or rejected" if opts["include_rejected"] else "failed"
            hint = "" if opts["include_rejected"] else " (rejected ones need --include-rejected)"
            text.append(f"Nothing to retry: no {kinds} cancellation{' of that account' if opts['account'] else ''}"
                        f"{hint}.")
        self.emit({"retried": retried, "refused": refused}, "\n".join(text))
        if refused:
            raise CliError(f"{len(refused)} cancellation(s) could not be retried", returncode=EXIT_REFUSED,
                           reported=self.as_json)
