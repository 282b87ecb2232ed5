#!/usr/bin/env python
"""Where the CPU of one cancel call goes: ``call_dispatch`` in one thread, against the sandbox, profiled.

Run: .venv/bin/python bench/dispatch_profile.py [--calls 100] [--auth signature|oauth|mirakl] [--lines 2]
     [--top 40] [--only PATH] [--callers NAME] [--sqlite]

PostgreSQL (``BENCH_DATABASE_URL``, re-created) unless ``--sqlite``; the sandbox is served in this process on a
loopback port, but only the dispatching thread's CPU (``time.thread_time``) is counted and profiled, so the
sandbox's own work is not. Prints the CPU per call (unprofiled), the CPU of each step of a dispatch (unprofiled,
the steps' functions timed), the SQL statements per call, then the profile's top functions.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import cProfile
import importlib
import io
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput as tb  # noqa: E402  (the same set-up as the throughput benchmark)

#: (module, attribute, label): the steps of a dispatch whose thread CPU is summed apart.
PHASES = [
    ("cancellations.services.cancellation_dispatch", "_send_permit", "pace: permit"),
    ("cancellations.services.cancellation_dispatch", "_claim", "claim (transaction)"),
    ("cancellations.services.cancellation_dispatch", "_cancel_send", "send (HTTP exchange, recorded)"),
    ("cancellations.services.call_recording", "CallRecorder.record", "  recording the exchange"),
    ("cancellations.services.cancellation_dispatch", "_record_result", "record the result (transaction)"),
    ("cancellations.services.cancellation_confirm", "cancellations_transition", "  status change to confirmed"),
    ("cancellations.services.history", "cancellations_moved", "  integration events of status changes"),
    ("cancellations.services.cancellation_confirm", "inventory_adjustments_created",
     "  inventory adjustment events"),
    ("cancellations.services.cancellation_dispatch", "_followups_plan", "follow-up check"),
]


@contextlib.contextmanager
def phases_timed():
    """Sum the thread CPU of each phase while the block runs (the functions are wrapped, then restored)."""
    totals: dict[str, float] = collections.Counter()
    restore = []
    for module_name, attribute, label in PHASES:
        owner = importlib.import_module(module_name)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        original = getattr(owner, name)

        def timed(*args, _original=original, _label=label, **kwargs):
            started = time.thread_time()
            try:
                return _original(*args, **kwargs)
            finally:
                totals[_label] += time.thread_time() - started

        setattr(owner, name, timed)
        restore.append((owner, name, original))
    try:
        yield totals
    finally:
        for owner, name, original in restore:
            setattr(owner, name, original)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--auth", default="signature", help="walmart: signature or oauth; mirakl: mirakl")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--lines", type=int, default=2, help="lines per purchase order")
    parser.add_argument("--only", default="", help="restrict the printed profile to paths matching this")
    parser.add_argument("--callers", default="", help="also print the callers of functions matching this")
    args = parser.parse_args()
    tb.django_setup(broker=not args.sqlite)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from cancellations.models import MarketplaceCall, OrderLine
    from cancellations.services import LineRequest, call_dispatch, cancellation_request, orders_sync

    base = tb.serve()
    if args.auth == "mirakl":  # one call per order of --lines lines (at most 100 in an OR30 call)
        account = tb.account_create(base, "mirakl")
        tb.mirakl_orders_add(account, 3 * args.calls + 5, args.lines)
    else:
        account = tb.account_create(base, "walmart_ca", args.auth)
        tb.walmart_orders_add(account, 3 * args.calls + 5, lines=args.lines)
    orders_sync(account=account)
    lines = list(OrderLine.objects.filter(order__account=account).order_by("order_id", "pk"))
    for start in range(0, len(lines), args.lines * (500 // args.lines)):  # one order's lines never split
        chunk = lines[start:start + args.lines * (500 // args.lines)]
        cancellation_request(lines=[LineRequest(line_id=line.pk, quantity=1) for line in chunk],
                             reason=tb.reason_for(account), source="cli")
    call_ids = list(MarketplaceCall.objects.filter(state="queued").order_by("pk").values_list("pk", flat=True))
    for call_id in call_ids[:5]:  # warm: connections, key cache, imports
        call_dispatch(call_id=call_id)
    n = args.calls
    plain, timed, todo = call_ids[5:5 + n], call_ids[5 + n:5 + 2 * n], call_ids[5 + 2 * n:5 + 3 * n]
    batches = []  # per-call CPU of batches of 10: the least disturbed batch is the best estimate on a busy machine
    for start in range(0, len(plain), 10):
        cpu = time.thread_time()
        for call_id in plain[start:start + 10]:
            call_dispatch(call_id=call_id)
        batches.append((time.thread_time() - cpu) / len(plain[start:start + 10]))
    print(f"{len(plain)} calls ({args.auth}, {args.lines} lines each, {connection.vendor}): "
          f"{min(batches) * 1000:.1f} ms CPU per call_dispatch (best batch of 10; median "
          f"{statistics.median(batches) * 1000:.1f}; thread CPU, not profiled)")
    with phases_timed() as phases:
        for call_id in timed:
            call_dispatch(call_id=call_id)
    print("Where it goes (thread CPU per call, not profiled; nested phases are included in their parents):")
    for label, seconds in sorted(phases.items(), key=lambda item: -item[1]):
        print(f"  {seconds / len(timed) * 1000:6.2f} ms  {label}")
    profiler = cProfile.Profile(time.thread_time)
    with CaptureQueriesContext(connection) as queries:
        profiler.enable()
        for call_id in todo:
            call_dispatch(call_id=call_id)
        profiler.disable()
    print(f"{len(queries) / len(todo):.1f} SQL statements per call; those of the first three calls:")
    kinds: dict[str, int] = {}
    for q in queries.captured_queries[: len(queries) // len(todo) * 3]:
        sql = q["sql"]
        kinds[sql[:90]] = kinds.get(sql[:90], 0) + 1
    for sql, n in kinds.items():
        print(f"  {n:3} × {sql}")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.only, args.top)
    print(out.getvalue())
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.top)
    if args.callers:
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_callers(args.callers)
    print(out.getvalue())


if __name__ == "__main__":
    main()
