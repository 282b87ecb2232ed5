#!/usr/bin/env python
"""Where the CPU of one cancel call goes: ``call_dispatch`` in one thread, against the sandbox, profiled.

Run: .venv/bin/python bench/dispatch_profile.py [--calls 100] [--auth signature|oauth] [--top 40] [--sqlite]

PostgreSQL (``BENCH_DATABASE_URL``, re-created) unless ``--sqlite``; the sandbox is served in this process on a
loopback port, but only the dispatching thread's CPU (``time.thread_time``) is counted and profiled, so the
sandbox's own work is not. Prints the CPU and SQL statements per call, then the profile's top functions.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput as tb  # noqa: E402  (the same set-up as the throughput benchmark)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--auth", default="signature", help="walmart: signature or oauth; mirakl: mirakl")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--lines", type=int, default=2, help="lines per purchase order")
    parser.add_argument("--only", default="", help="restrict the printed profile to paths matching this")
    args = parser.parse_args()
    tb.django_setup(broker=not args.sqlite)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from cancellations.models import MarketplaceCall, OrderLine
    from cancellations.services import LineRequest, call_dispatch, cancellation_request, orders_sync

    base = tb.serve()
    if args.auth == "mirakl":  # one call per order of --lines lines (at most 100 in an OR30 call)
        account = tb.account_create(base, "mirakl")
        tb.mirakl_orders_add(account, 2 * args.calls + 5, args.lines)
    else:
        account = tb.account_create(base, "walmart_ca", args.auth)
        tb.walmart_orders_add(account, 2 * args.calls + 5, lines=args.lines)
    orders_sync(account=account)
    lines = list(OrderLine.objects.filter(order__account=account).order_by("order_id", "pk"))
    for start in range(0, len(lines), args.lines * (500 // args.lines)):  # one order's lines never split
        chunk = lines[start:start + args.lines * (500 // args.lines)]
        cancellation_request(lines=[LineRequest(line_id=line.pk, quantity=1) for line in chunk],
                             reason=tb.reason_for(account), source="cli")
    call_ids = list(MarketplaceCall.objects.filter(state="queued").order_by("pk").values_list("pk", flat=True))
    for call_id in call_ids[:5]:  # warm: connections, key cache, imports
        call_dispatch(call_id=call_id)
    plain, todo = call_ids[5:5 + args.calls], call_ids[5 + args.calls:5 + 2 * args.calls]
    batches = []  # per-call CPU of batches of 10: the least disturbed batch is the best estimate on a busy machine
    for start in range(0, len(plain), 10):
        cpu = time.thread_time()
        for call_id in plain[start:start + 10]:
            call_dispatch(call_id=call_id)
        batches.append((time.thread_time() - cpu) / len(plain[start:start + 10]))
    print(f"{len(plain)} calls ({args.auth}, {args.lines} lines each, {connection.vendor}): "
          f"{min(batches) * 1000:.1f} ms CPU per call_dispatch (best batch of 10; median "
          f"{statistics.median(batches) * 1000:.1f}; thread CPU, not profiled)")
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
    print(out.getvalue())


if __name__ == "__main__":
    main()
