#!/usr/bin/env python
"""The sandbox's own CPU per answered call: what the in-process marketplace emulator costs the benchmarks.

Run: .venv/bin/python bench/sandbox_profile.py [--calls 100] [--sqlite] [--profile] [--top 30]

The sandbox is served in this process (``throughput.serve()``: the whole app on a ThreadedWSGIServer) and one
client thread (this one) sends real calls through the real backends (``call_dispatch``, ``orders_sync``), one
at a time, with no latency knob. The serving threads' CPU is the process's CPU minus the client thread's
(``time.process_time() - time.thread_time()``); it is divided by the sandbox requests logged
(``SandboxRequest``). Three mixes: Walmart signature (CA legacy), Walmart OAuth (Global, token calls
included), Mirakl OR30; then a sync of each (list calls). ``--profile``: cProfile (thread CPU timer) of the
serving threads' WSGI application, per request, merged, top functions by own and cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import pstats
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput as tb  # noqa: E402  (the same set-up as the throughput benchmark)

_stats: list[pstats.Stats] = []
_stats_lock = threading.Lock()
_statements = [0]  # SQL statements run by the serving threads


def statements_count(sender, connection, **kwargs) -> None:
    """Count the statements of every new database connection made off the client thread (the serving ones)."""
    if threading.current_thread() is threading.main_thread():
        return

    def counted(execute, sql, params, many, context):
        _statements[0] += 1
        return execute(sql, params, many, context)

    connection.execute_wrappers.append(counted)


def profiled(app):
    """A WSGI app that profiles each request in its serving thread (thread CPU), merged into ``_stats``."""

    def wrapped(environ, start_response):
        profiler = cProfile.Profile(time.thread_time)
        profiler.enable()
        try:
            return app(environ, start_response)
        finally:
            profiler.disable()
            with _stats_lock:
                if _stats:
                    _stats[0].add(profiler)
                else:
                    _stats.append(pstats.Stats(profiler))

    return wrapped


def serving_cpu() -> float:
    """CPU seconds of every thread of this process but the current one."""
    return time.process_time() - time.thread_time()


def measured(label: str, accounts, work) -> None:
    from cancellations.sandbox.models import SandboxRequest

    sellers = [a.seller for a in accounts]
    before = SandboxRequest.objects.filter(seller__in=sellers).count()
    ops_before = dict(_ops(sellers))
    statements = _statements[0]
    cpu, wall = serving_cpu(), time.perf_counter()
    work()
    cpu, wall = serving_cpu() - cpu, time.perf_counter() - wall
    statements = _statements[0] - statements
    requests = SandboxRequest.objects.filter(seller__in=sellers).count() - before
    ops = {op: n - ops_before.get(op, 0) for op, n in _ops(sellers) if n - ops_before.get(op, 0)}
    print(f"{label:<24} {requests:4} sandbox requests {ops}: serving threads {cpu * 1000 / max(requests, 1):5.1f} ms "
          f"CPU per request, "
          f"{statements / max(requests, 1):4.1f} SQL statements (wall {wall:5.2f} s)", flush=True)


def _ops(sellers):
    from django.db.models import Count

    from cancellations.sandbox.models import SandboxRequest

    return (SandboxRequest.objects.filter(seller__in=sellers).values_list("operation")
            .annotate(n=Count("id")).order_by("operation"))


def lookups_time(account, n: int = 500) -> None:
    """The Walmart signature authentication query with the fault check: alone and then a separate EXISTS (as
    before), with an ``Exists(OuterRef)`` annotation, and with the annotation the sandbox uses."""
    from django.db.models import Exists, OuterRef

    from cancellations.sandbox import state
    from cancellations.sandbox.models import SandboxFault, SandboxSeller

    consumer_id = account.credentials["consumer_id"]

    def sellers():
        return SandboxSeller.objects.filter(marketplace="walmart_ca", identifier=consumer_id).exclude(public_key_pem="")

    forms = {
        "seller, then the fault EXISTS": lambda: (sellers().first(), SandboxFault.objects.filter(
            marketplace="walmart_ca", operation="cancel", remaining__gt=0).exists()),
        "seller + Exists(OuterRef) annotation": lambda: sellers().annotate(pending=Exists(SandboxFault.objects.filter(
            marketplace=OuterRef("marketplace"), operation="cancel", remaining__gt=0))).first(),
        "seller + state.faults_pending": lambda: sellers().annotate(
            **{state.FAULTS_PENDING: state.faults_pending("cancel")}).first(),
    }
    for label, run in forms.items():
        for _ in range(20):
            run()
        cpu = time.thread_time()
        for _ in range(n):
            run()
        print(f"{label:<40} {(time.thread_time() - cpu) / n * 1e6:7.0f} µs CPU")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--mirakl-lines", type=int, default=300)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--dump", help="with --profile: also write the merged stats to this file")
    parser.add_argument("--lookups", action="store_true",
                        help="also time the authentication query's forms in this thread (thread CPU per query)")
    args = parser.parse_args()
    tb.django_setup(broker=not args.sqlite)
    from django.core.servers import basehttp
    from django.db.backends.signals import connection_created

    from cancellations.models import MarketplaceCall, OrderLine
    from cancellations.services import LineRequest, call_dispatch, cancellation_request, orders_sync

    if args.profile:
        original = basehttp.get_internal_wsgi_application
        basehttp.get_internal_wsgi_application = lambda: profiled(original())
    connection_created.connect(statements_count)
    base = tb.serve()
    from django.db import connection

    print(f"# sandbox CPU per answered request ({connection.vendor}, {args.calls} cancel calls per mix, "
          f"load {__import__('os').getloadavg()[0]:.1f})")
    n = args.calls
    walmart_sig = tb.account_create(base, "walmart_ca", "signature")
    walmart_oauth = tb.account_create(base, "walmart_ca", "oauth")
    mirakl = tb.account_create(base, "mirakl")
    tb.walmart_orders_add(walmart_sig, n + 5, prefix="PS")
    tb.walmart_orders_add(walmart_oauth, n + 5, prefix="PO")
    tb.mirakl_orders_add(mirakl, math.ceil(args.mirakl_lines / 3), 3)
    for account in (walmart_sig, walmart_oauth, mirakl):
        orders_sync(account=account)
        reason = tb.reason_for(account)
        cancellation_request(lines=[LineRequest(line_id=line.pk, quantity=1) for line in
                                    OrderLine.objects.filter(order__account=account).order_by("pk")],
                             reason=reason, source="cli")

    def dispatch(account, count):
        def run():
            ids = list(MarketplaceCall.objects.filter(account=account, state="queued").order_by("pk")
                       .values_list("pk", flat=True)[:count])
            for call_id in ids:
                call_dispatch(call_id=call_id)
        return run

    for account in (walmart_sig, walmart_oauth):  # warm: connections, caches, imports
        dispatch(account, 3)()
    _stats.clear()
    measured("walmart signature cancel", [walmart_sig], dispatch(walmart_sig, n))
    measured("walmart oauth cancel", [walmart_oauth], dispatch(walmart_oauth, n))
    measured("mirakl OR30", [mirakl], dispatch(mirakl, n))  # a few calls of up to 100 lines each
    for account, label in ((walmart_sig, "walmart signature sync"), (walmart_oauth, "walmart oauth sync"),
                           (mirakl, "mirakl sync")):
        measured(label, [account], lambda account=account: orders_sync(account=account))
    if args.lookups:
        lookups_time(walmart_sig)
    if args.profile and _stats and args.dump:
        _stats[0].dump_stats(args.dump)
    if args.profile and _stats:
        for key in ("tottime", "cumulative"):
            out = io.StringIO()
            _stats[0].stream = out
            _stats[0].sort_stats(key).print_stats(args.top)
            print(out.getvalue())


if __name__ == "__main__":
    main()
