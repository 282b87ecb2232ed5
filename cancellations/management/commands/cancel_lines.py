"""Cancel order lines on the marketplace from the command line (the same service as the admin and API)."""

from __future__ import annotations

import json
import time

from django.conf import settings
from django.core.management.base import CommandParser

from cancellations.management.cli import (
    EXIT_BAD_INPUT,
    EXIT_REFUSED,
    EXIT_TIMEOUT,
    AppCommand,
    CliError,
    account_by_name,
)
from cancellations.models import TERMINAL_STATUSES, Cancellation, Order
from cancellations.services import (
    CancellationRequestError,
    LineRequest,
    cancellation_dry_run,
    cancellation_request,
    cancellations_sweep,
)


def _line_spec(value: str) -> tuple[str, int | None]:
    line_id, _, qty = value.partition(":")
    if not line_id:
        raise ValueError("empty line id")
    if not qty:
        return line_id, None
    if not qty.isdigit() or int(qty) <= 0:
        raise ValueError(f"quantity {qty!r} must be a positive whole number")
    return line_id, int(qty)


class Command(AppCommand):
    help = ("Cancel lines of one marketplace order. Exit 0 when everything asked is confirmed, 1 when something "
            "was refused or failed, 2 for bad input, 3 when --wait ran out.")

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--account", required=True, help="Marketplace account name (any case)")
        parser.add_argument("--order", required=True,
                            help="Marketplace order id (Walmart purchaseOrderId / Mirakl order_id)")
        parser.add_argument("--line", action="append", required=True, metavar="LINE_ID[:QTY]",
                            help="Marketplace line id, optionally with the quantity (default: all that remains)")
        parser.add_argument("--reason", required=True, help="Marketplace reason code or a normalised reason")
        parser.add_argument("--note", default="")
        parser.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                            help="Wait up to this long for every cancellation to reach a final status")
        parser.add_argument("--dry-run", action="store_true", help="Show what would be sent; change nothing")
        parser.add_argument("--accept-other-lines", action="store_true",
                            help="When refusing lines not accepted yet, accept the order's other waiting lines in "
                                 "the same call (where the account allows partial acceptance)")

    def handle(self, *args, **opts) -> None:
        requests = self._line_requests(opts)
        accept_others = opts["accept_other_lines"]
        if opts["dry_run"]:
            return self._dry_run(requests, opts["reason"], accept_others)
        try:
            created = cancellation_request(lines=requests, reason=opts["reason"], note=opts["note"], source="cli",
                                           accept_others=accept_others)
        except CancellationRequestError as exc:
            self._fail([e.as_dict() for e in exc.errors])
        ids = [c.pk for c in created]
        if opts["wait"] > 0:
            self._wait(ids, opts["wait"])
        final = list(Cancellation.objects.filter(pk__in=ids).select_related("line").order_by("pk"))
        self._report(final)
        if not all(c.status == "confirmed" for c in final):
            timed_out = any(c.status not in TERMINAL_STATUSES for c in final)
            raise CliError(
                "Not everything is confirmed yet." if timed_out else "Some cancellations were not confirmed.",
                returncode=EXIT_TIMEOUT if timed_out and opts["wait"] > 0 else EXIT_REFUSED, reported=self.as_json,
            )

    def _line_requests(self, opts) -> list[LineRequest]:
        account = account_by_name(opts["account"])
        specs = []
        for raw in opts["line"]:
            try:
                specs.append(_line_spec(raw))
            except ValueError as exc:
                raise CliError(f"--line {raw!r}: {exc}", field="--line") from None
        order = Order.objects.filter(account=account, external_id=opts["order"].strip()).first()
        if order is None:
            raise CliError(f"no such order {opts['order']!r} on {account.name} (run sync_orders first?)",
                           field="--order")
        lines = {line.external_id: line for line in order.lines.filter(external_id__in=[s[0] for s in specs])}
        missing = [s[0] for s in specs if s[0] not in lines]
        if missing:
            known = ", ".join(order.lines.order_by("external_id").values_list("external_id", flat=True))
            raise CliError(f"no line {', '.join(missing)} on order {order.external_id} (its lines: {known})",
                           field="--line")
        self.external_ids = {line.pk: line.external_id for line in lines.values()}
        return [LineRequest(line_id=lines[line_id].pk, quantity=qty) for line_id, qty in specs]

    def _dry_run(self, requests: list[LineRequest], reason: str, accept_others: bool) -> None:
        preview, calls = cancellation_dry_run(lines=requests, reason=reason, accept_others=accept_others)
        if preview.errors:
            self._fail([e.as_dict() for e in preview.errors])
        rows = []
        for planned in calls:
            lines = []
            for pl in planned.lines:
                line = {"order": pl.line.order.external_id, "line": pl.line.external_id, "sku": pl.line.sku,
                        "quantity": pl.quantity, "reason_code": pl.reason_code}
                lines.append({**line, **(pl.amounts.as_dict() if pl.amounts else {})})
            rows.append({"account": planned.account.name, "call": planned.call.name, "method": planned.call.method,
                         "url": planned.call.url, "body": planned.call.body, "lines": lines})
        if self.as_json:
            self.stdout.write(json.dumps({"dry_run": True, "calls": rows}, indent=2))
            return
        self.stdout.write(f"Dry run: nothing was stored or sent. {len(rows)} call(s) would be made:")
        for row in rows:
            call = f"{row['call']} " if row["call"] else ""
            self.stdout.write(f"\n{row['account']}: {call}{row['method']} {row['url']}")
            for line in row["lines"]:
                self.stdout.write("  " + "  ".join(f"{k}={v}" for k, v in line.items()))
            self.stdout.write(row["body"])

    def _wait(self, ids: list[int], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if settings.EMBEDDED_MODE:
                cancellations_sweep()  # no worker in the embedded default: retries happen here
            if not Cancellation.objects.filter(pk__in=ids).exclude(status__in=TERMINAL_STATUSES).exists():
                return
            time.sleep(min(1.0, max(deadline - time.monotonic(), 0)))

    def _report(self, cancellations: list[Cancellation]) -> None:
        rows = [{"id": c.pk, "line": c.line.external_id, "quantity": c.quantity, "status": c.status,
                 "marketplace_reference": c.marketplace_reference, "error_code": c.error_code,
                 "error_message": c.error_message} for c in cancellations]
        if self.as_json:
            self.stdout.write(json.dumps({"cancellations": rows}, indent=2))
            return
        for row in rows:
            extra = f" ref={row['marketplace_reference']}" if row["marketplace_reference"] else ""
            if row["error_code"]:
                extra += f" error={row['error_code']}: {row['error_message']}"
            self.stdout.write(f"#{row['id']} line {row['line']} x{row['quantity']}: {row['status']}{extra}")

    def _fail(self, errors: list[dict]) -> None:
        """Refused as bad input; errors name the line as the user typed it, never a database id."""
        for error in errors:
            error["line"] = self.external_ids.get(error["line"], error["line"])
        message = "; ".join(f"line {e['line']}: {e['field']}: {e['message']}" if e["line"] else
                            f"{e['field']}: {e['message']}" for e in errors)
        raise CliError(message, returncode=EXIT_BAD_INPUT, errors=errors)
