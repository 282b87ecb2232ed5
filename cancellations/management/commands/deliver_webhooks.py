"""Send due webhook deliveries (and the alert digest, and prune old events): once, or every few seconds."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection

from cancellations.services.outbound import outbound_sweep


class Command(BaseCommand):
    help = ("Deliver due webhook events, mail the alert digest when one is due and drop events past their "
            "retention. The sweep for setups without Celery beat.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="Keep sweeping until stopped.")
        parser.add_argument("--interval", type=float, default=5.0, help="Seconds between sweeps with --loop.")

    def handle(self, *args, **opts) -> None:
        while True:
            report = outbound_sweep()
            self.stdout.write(" ".join(f"{k}={v}" for k, v in report.items()) or "nothing due")
            if not opts["loop"]:
                return
            connection.close()
            time.sleep(opts["interval"])
