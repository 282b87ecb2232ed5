"""Send everything due: pending, retries whose time has come, stale sends and unknown outcomes."""

from __future__ import annotations

import signal
import time

from django.core.management.base import BaseCommand, CommandParser

from cancellations.services import cancellations_sweep


class Command(BaseCommand):
    help = "Run the cancellation sweeper once, or every --interval seconds with --loop."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="Keep running until interrupted")
        parser.add_argument("--interval", type=float, default=5.0, help="Seconds between sweeps with --loop")

    def handle(self, *args, **opts) -> None:
        stop = {"now": False}
        signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
        while True:
            report = cancellations_sweep()
            if any(report.values()) or not opts["loop"]:
                self.stdout.write(" ".join(f"{k}={v}" for k, v in report.items()))
            if not opts["loop"] or stop["now"]:
                return
            try:
                time.sleep(opts["interval"])
            except KeyboardInterrupt:
                return
