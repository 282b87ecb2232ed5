#!/usr/bin/env python
"""Benchmarks that print numbers: marketplace calls, SQL queries and memory against the sandbox.

Run: .venv/bin/python bench/run.py [--orders 2000]
Uses a throw-away SQLite database and serves the sandbox on a free loopback port in this process.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="bench-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")
os.environ.setdefault("DJANGO_DEBUG", "true")  # development settings; DEBUG itself is switched off below
os.environ.pop("DATABASE_URL", None)
os.environ.pop("CELERY_BROKER_URL", None)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.servers.basehttp import (  # noqa: E402
    ThreadedWSGIServer,
    WSGIRequestHandler,
    get_internal_wsgi_application,
)
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from cancellations.models import MarketplaceAccount, Order, OrderLine  # noqa: E402
from cancellations.sandbox import mirakl as mirakl_sandbox  # noqa: E402
from cancellations.sandbox import walmart as walmart_sandbox  # noqa: E402
from cancellations.sandbox.models import SandboxRequest  # noqa: E402
from cancellations.sandbox.provision import seller_register, walmart_private_key_generate  # noqa: E402
from cancellations.services import LineRequest, cancellation_request, orders_sync  # noqa: E402

settings.DEBUG = False  # no query log kept in memory


class Quiet(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass


def serve() -> str:
    server = ThreadedWSGIServer(("127.0.0.1", 0), Quiet)
    server.daemon_threads = True
    server.set_app(get_internal_wsgi_application())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}"


def account(base: str, marketplace: str, **creds) -> MarketplaceAccount:
    path = "walmart" if marketplace == "walmart_ca" else "mirakl"
    options = {"auth": creds["auth"]} if marketplace == "walmart_ca" else {}
    acc = MarketplaceAccount.objects.create(name=f"{marketplace}-{uuid.uuid4().hex[:6]}", marketplace=marketplace,
                                            base_url=f"{base}/sandbox/{path}", credentials=creds, options=options)
    acc.seller = seller_register(marketplace=marketplace, credentials=creds, options=options)
    return acc


def cancel_calls(acc: MarketplaceAccount) -> int:
    return SandboxRequest.objects.filter(seller=acc.seller, operation="cancel").count()


def bench_calls(base: str) -> None:
    print("\n## Marketplace calls per request")
    wm = account(base, "walmart_ca", auth="signature", consumer_id=str(uuid.uuid4()),
                 channel_type=str(uuid.uuid4()), private_key=walmart_private_key_generate())
    for n in range(10):
        walmart_sandbox.order_add(wm.seller, purchase_order_id=f"PO-{n}",
                                  lines=[{"sku": f"S{n}-{i}", "quantity": 2, "unit_price": "9.99"} for i in range(5)])
    orders_sync(account=wm)
    lines = OrderLine.objects.filter(order__account=wm)
    cancellation_request(lines=[LineRequest(line_id=line.pk, quantity=1) for line in lines],
                         reason="CANCEL_BY_SELLER", source="cli")
    print(f"walmart_ca: {lines.count()} lines on 10 purchase orders -> {cancel_calls(wm)} cancel calls "
          "(target: 1 per purchase order)")

    mk = account(base, "mirakl", api_key=uuid.uuid4().hex)
    for n in range(25):
        mirakl_sandbox.order_add(mk.seller, order_id=f"MK-{n}-A",
                                 lines=[{"sku": f"M{n}-{i}", "quantity": 3, "price_unit": "5.00"} for i in range(10)])
    orders_sync(account=mk)
    lines = OrderLine.objects.filter(order__account=mk)
    reason = mk.reasons.filter(active=True).values_list("code", flat=True).first()
    cancellation_request(lines=[LineRequest(line_id=line.pk, quantity=1) for line in lines], reason=reason,
                         source="cli")
    print(f"mirakl: {lines.count()} lines on 25 orders -> {cancel_calls(mk)} cancel calls "
          "(target: 1 per 100 lines)")


def bench_baseline_reads(base: str) -> None:
    """Issue 8 §3: order reads made before sending so a read-back compares with a fresh baseline."""
    from datetime import timedelta

    from django.utils import timezone

    from cancellations.embedded_pool import embedded_drain

    print("\n## Marketplace calls per request: cancel calls + baseline reads (minimum: the cancel calls)")
    for label, stale in (("fresh data (just synced)", False), ("stale data (synced 1 h ago)", True)):
        mk = account(base, "mirakl", api_key=uuid.uuid4().hex)
        for n in range(5):
            mirakl_sandbox.order_add(mk.seller, order_id=f"B-{n}-A",
                                     lines=[{"sku": f"B{n}-{i}", "quantity": 3, "price_unit": "5.00"}
                                            for i in range(4)])
        orders_sync(account=mk)
        if stale:
            Order.objects.filter(account=mk).update(read_at=timezone.now() - timedelta(hours=1))
        before = SandboxRequest.objects.filter(seller=mk.seller).count()
        lines = OrderLine.objects.filter(order__account=mk)
        reason = mk.reasons.filter(active=True).values_list("code", flat=True).first()
        cancellation_request(lines=[LineRequest(line_id=line.pk, quantity=1) for line in lines], reason=reason,
                             source="cli")
        embedded_drain(timeout=60)
        calls = SandboxRequest.objects.filter(seller=mk.seller).count() - before
        reads = SandboxRequest.objects.filter(seller=mk.seller, operation="get_order").count()
        print(f"mirakl, {label}: 20 lines on 5 orders -> {calls} calls = {cancel_calls(mk)} cancel + "
              f"{reads} reads (extra: {calls - cancel_calls(mk)})")


def bench_request_queries(base: str) -> None:
    print("\n## SQL queries of one cancellation request (dispatch excluded)")
    mk = account(base, "mirakl", api_key=uuid.uuid4().hex)
    for n in range(8):
        mirakl_sandbox.order_add(mk.seller, order_id=f"Q-{n}-A",
                                 lines=[{"sku": f"Q{n}-{i}", "quantity": 2, "price_unit": "5.00"} for i in range(50)])
    orders_sync(account=mk)
    reason = mk.reasons.filter(active=True).values_list("code", flat=True).first()
    all_lines = list(OrderLine.objects.filter(order__account=mk).order_by("pk"))
    from unittest import mock

    offset = 0
    for size in (2, 20, 200):
        lines = all_lines[offset:offset + size]
        offset += size
        with mock.patch("cancellations.services.enqueue.calls_enqueue"), \
                CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            cancellation_request(lines=[LineRequest(line_id=line.pk, quantity=1) for line in lines],
                                 reason=reason, source="cli")
            elapsed = (time.perf_counter() - started) * 1000
        print(f"{size:>4} lines: {len(ctx.captured_queries):>3} queries, {elapsed:7.1f} ms")


class QueryCounter:
    """Counts queries without keeping their SQL (CaptureQueriesContext would hold it all in memory)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def bench_sync(base: str, orders: int) -> None:
    print("\n## Order sync: memory and queries as the number of orders grows")
    for count in (orders // 4, orders):
        mk = account(base, "mirakl", api_key=uuid.uuid4().hex)
        for n in range(count):
            specs = [{"sku": f"SY{n}-{i}", "quantity": 1, "price_unit": "3.00"} for i in range(3)]
            mirakl_sandbox.order_add(mk.seller, order_id=f"SY-{n}-A", lines=specs)
        counter = QueryCounter()
        tracemalloc.start()
        with connection.execute_wrapper(counter):
            started = time.perf_counter()
            report = orders_sync(account=mk)
            elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        queries = counter.count
        print(f"{count:>5} orders ({report.pages} pages): peak {peak / 1e6:6.1f} MB, {queries} queries "
              f"({queries / max(report.pages, 1):.1f} per page), {elapsed:5.1f} s")


ADMIN_URLS = ("/admin/cancellations/order/", "/admin/cancellations/orderline/",
              "/admin/cancellations/cancellation/", "/admin/cancellations/marketplacecall/", "/admin/")


def admin_queries() -> dict[str, int]:
    """Queries to render each admin list page (a full page is 100 rows)."""
    User = get_user_model()
    user = User.objects.filter(username="bench").first() or User.objects.create_superuser("bench", "b@x.io", "x")
    client = Client()
    client.force_login(user)
    counts = {}
    for url in ADMIN_URLS:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        counts[url] = len(ctx.captured_queries)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=2000, help="orders for the sync benchmark")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    base = serve()
    print(f"# Benchmarks ({connection.vendor}, sandbox at {base})")
    bench_calls(base)
    bench_baseline_reads(base)
    few = admin_queries()
    rows_before = (Order.objects.count(), OrderLine.objects.count())
    bench_request_queries(base)
    bench_sync(base, args.orders)
    many = admin_queries()
    rows_after = (Order.objects.count(), OrderLine.objects.count())
    print(f"\n## Admin list pages: queries with {rows_before[0]} orders / {rows_before[1]} lines "
          f"vs {rows_after[0]} orders / {rows_after[1]} lines")
    for url in ADMIN_URLS:
        print(f"{url:<42} {few[url]:>4} vs {many[url]:>4} queries")


if __name__ == "__main__":
    main()
