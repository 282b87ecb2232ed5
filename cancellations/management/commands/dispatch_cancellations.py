"""Send everything due: pending, retries whose time has come, stale sends and unknown outcomes."""

from __future__ import annotations

import signal
import time

from django.core.management.base import CommandParser

from cancellations.management.cli import AppCommand
from cancellations.services import cancellations_sweep


class Command(AppCommand):
    help = "Run the cancellation sweeper once, or every --interval seconds with --loop."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--loop", action="store_true", help="Keep running until interrupted")
        parser.add_argument("--interval", type=float, default=5.0, help="Seconds between sweeps with --loop")

    def handle(self, *args, **opts) -> None:
        stop = {"now": False}
        signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
        if opts["loop"] and not self.as_json:
            self.stdout.write(f"Sweeper started: every {opts['interval']:g} s it sends what is due (new, retries, "
                              "read-backs of unknown outcomes). It prints a line when it did something and is "
                              "silent while idle. Ctrl-C stops it.")
        idle = False
        while True:
            report = cancellations_sweep()
            busy = any(report.values())
            if busy or not opts["loop"]:
                summary = " ".join(f"{k}={v}" for k, v in report.items())
                self.emit(report, summary if busy or opts["loop"] else f"{summary}\nNothing was due.")
            elif not idle and not self.as_json:
                self.stdout.write("Idle: nothing due; checking again every "
                                  f"{opts['interval']:g} s.")
            idle = not busy
            self.stdout.flush()
            if not opts["loop"] or stop["now"]:
                return
            try:
                time.sleep(opts["interval"])
            except KeyboardInterrupt:
                return
