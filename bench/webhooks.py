#!/usr/bin/env python
"""Events and webhooks (issue 12): what recording events adds to a status change, and how fast the sweep
delivers to local receivers (a quick one; four that take 200 ms to answer, with one sweep thread and four).

Run: .venv/bin/python bench/webhooks.py [--cancellations 200] [--deliveries 300]

Throw-away SQLite database under a temporary DATA_DIR; the receiver is a ThreadingHTTPServer on a free loopback
port in this process, so every delivery is a real signed POST.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _setup() -> None:
    os.environ.update(DATA_DIR=tempfile.mkdtemp(prefix="bench-webhooks-"), DJANGO_DEBUG="true",
                      DJANGO_SETTINGS_MODULE="backoffice.settings", DJANGO_ENV_FILE="/dev/null")
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("CELERY_BROKER_URL", None)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _receiver(delay: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _cancellations(n: int):
    from cancellations.models import Cancellation, MarketplaceAccount, Order, OrderLine

    account = MarketplaceAccount.objects.create(name=f"bench-{time.monotonic_ns()}", marketplace="mirakl",
                                                base_url="https://marketplace.example.com",
                                                credentials={"api_key": "bench"})
    order = Order.objects.create(account=account, external_id=f"B-{time.monotonic_ns()}")
    lines = OrderLine.objects.bulk_create(OrderLine(order=order, external_id=str(i), sku=f"SKU-{i % 20}", quantity=2)
                                          for i in range(n))
    return Cancellation.objects.bulk_create(Cancellation(line=line, account=account, quantity=1, reason_code="34",
                                                         source="api", status="sending") for line in lines)


def _timed_transition(n: int, to_status: str) -> tuple[float, int]:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from cancellations.services.history import cancellations_transition

    rows = _cancellations(n)
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        started = time.perf_counter()
        cancellations_transition(rows, to_status, message="bench")
        elapsed = time.perf_counter() - started
    return elapsed * 1000, len(queries)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cancellations", type=int, default=200)
    parser.add_argument("--deliveries", type=int, default=300)
    args = parser.parse_args()
    _setup()
    from cancellations.models import WebhookDelivery, WebhookEndpoint
    from cancellations.services.events import events_record
    from cancellations.services.webhooks import webhook_endpoint_create, webhooks_deliver_due

    n = args.cancellations
    print(f"Status change of {n} cancellations in one transaction (events: the object as the API shows it):")
    for label, status in (("no event (retry_scheduled)", "retry_scheduled"), ("with event (failed)", "failed")):
        ms, queries = _timed_transition(n, status)
        print(f"  {label:28} {ms:8.1f} ms  {queries:3d} queries")
    for endpoints in (1, 5):
        for i in range(endpoints):
            webhook_endpoint_create(url=f"https://hooks{i}.example.com/", events=["cancellation.failed"])
        ms, queries = _timed_transition(n, "failed")
        print(f"  with event, {endpoints} endpoint(s)     {ms:8.1f} ms  {queries:3d} queries "
              f"(+{n * endpoints} delivery rows)")
        WebhookEndpoint.objects.all().delete()

    from django.conf import settings

    print("\nSweep delivering to local receivers (SQLite commits each attempt: the disk's fsync shows):")
    cases = [(0.0, 1, args.deliveries, 1), (0.2, 4, 5, 1), (0.2, 4, 5, 4)]
    for delay, endpoints, per_endpoint, threads in cases:
        settings.WEBHOOK_SWEEP_THREADS = threads
        server = _receiver(delay)
        for i in range(endpoints):
            webhook_endpoint_create(url=f"http://127.0.0.1:{server.server_port}/{i}", events=["account.error"])
        events_record("account.error", [{"id": i} for i in range(per_endpoint)])
        started = time.perf_counter()
        delivered = 0
        while report := webhooks_deliver_due():
            delivered += report.get("delivered", 0)
        elapsed = time.perf_counter() - started
        print(f"  {endpoints} endpoint(s) answering in {delay * 1000:3.0f} ms, {threads} sweep thread(s): "
              f"{delivered:3d} delivered in {elapsed:5.2f} s = {delivered / elapsed:5.1f} per second")
        WebhookEndpoint.objects.all().delete()
        server.shutdown()
    assert not WebhookDelivery.objects.exists()


if __name__ == "__main__":
    main()
