"""Issue 8 §8: chaos. Over 200 cancellations on both marketplaces against the sandbox over real sockets, with a
seeded random mix of every fault the sandbox injects (429, 500, slow before apply, slow after apply, drop after
apply, business rejection, a foreign cancel just before ours), sent by two sweeper processes and a real Celery
worker that is killed with SIGKILL mid-send and restarted.

Asserted from the sandbox's own record of applied cancels (``SandboxCancel``): no unit cancelled twice, every
``confirmed`` one really applied by us, every cancellation terminal or in ``needs_attention`` with its reason.
Needs PostgreSQL and Redis (the CI's second pass).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Sum

from backoffice.celery import app as celery_app
from cancellations.models import TERMINAL_STATUSES, Cancellation, MarketplaceCall, OrderLine
from cancellations.sandbox import mirakl as mirakl_sandbox
from cancellations.sandbox import walmart as walmart_sandbox
from cancellations.sandbox.endpoint import knobs_reset
from cancellations.sandbox.models import SandboxCancel, SandboxSeller
from cancellations.services import LineRequest, cancellation_request
from tests.integration.conftest import sandbox_account, walmart_credentials

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
CHAOS = {
    "seed": 8,
    "rates": {"rate_limit": 0.07, "server_error": 0.07, "slow_before_apply": 0.05, "slow_after_apply": 0.06,
              "drop_after_apply": 0.06, "reject_line": 0.05, "foreign_cancel": 0.06},
    "params": {"slow_before_apply": {"delay": 1}, "slow_after_apply": {"delay": 3},
               "rate_limit": {"retry_after": 1}},
}
# Every process of the run: quick timeouts, retries and read-backs, stale sends noticed after 10 s.
ENV = {"MARKETPLACE_CONNECT_TIMEOUT": "2", "MARKETPLACE_READ_TIMEOUT": "2", "CANCELLATION_STALE_SENDING_SECONDS": "10",
       "CANCELLATION_RETRY_BASE_SECONDS": "0.3", "CANCELLATION_RETRY_MAX_SECONDS": "2",
       "CANCELLATION_VERIFY_DELAY_SECONDS": "0", "DB_CONN_MAX_AGE": "0"}


class Processes:
    """The worker and the two dispatchers, started on the test database and a queue of their own."""

    def __init__(self, redis_url: str) -> None:
        db = connection.settings_dict
        self.queue = f"chaos-{os.getpid()}"
        self.env = {**os.environ, **ENV, "CELERY_BROKER_URL": redis_url, "CELERY_TASK_DEFAULT_QUEUE": self.queue,
                    "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/"
                                    f"{db['NAME']}"}
        self.procs: list[subprocess.Popen] = []
        self.worker = self.worker_start()
        self.dispatchers = [self._start([sys.executable, "manage.py", "dispatch_cancellations", "--loop",
                                         "--interval", "0.5"]) for _ in range(2)]

    def _start(self, command: list[str]) -> subprocess.Popen:
        proc = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def worker_start(self) -> subprocess.Popen:
        return self._start([sys.executable, "-m", "celery", "-A", "backoffice", "worker", "--pool", "threads",
                            "--concurrency", "4", "--queues", self.queue, "--without-mingle", "--without-gossip",
                            "--loglevel", "WARNING"])

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _seed_mirakl(seller) -> None:
    for n in range(20):
        mirakl_sandbox.order_add(seller, order_id=f"CH-{n}-A", lines=[
            {"sku": f"CH{n}-{i}", "quantity": 3, "price_unit": "7.00", "shipping_price": "1.00"} for i in range(6)])


def _seed_walmart(seller) -> None:
    for n in range(30):
        walmart_sandbox.order_add(seller, purchase_order_id=f"CHW-{n}", lines=[
            {"sku": f"W{n}-{i}", "quantity": 3, "unit_price": "4.00"} for i in range(3)])


@pytest.fixture
def accounts(postgres_only, redis_broker_url, live_server):
    import secrets

    mirakl = sandbox_account(live_server, name="chaos-mirakl", marketplace="mirakl",
                             credentials={"api_key": secrets.token_urlsafe(16)}, options={}, seed=_seed_mirakl)
    credentials, options = walmart_credentials("oauth")
    walmart = sandbox_account(live_server, name="chaos-walmart", marketplace="walmart_ca", credentials=credentials,
                              options=options, seed=_seed_walmart)
    SandboxSeller.objects.filter(pk__in=[mirakl.sandbox_seller.pk, walmart.sandbox_seller.pk]).update(
        options={"chaos": CHAOS, "latency_ms": 150})
    knobs_reset()
    return mirakl, walmart


def _settle(ids: list[int], processes: Processes, timeout: float) -> list[Cancellation]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = Cancellation.objects.filter(pk__in=ids).exclude(status__in=TERMINAL_STATUSES).count()
        if not left:
            break
        time.sleep(1)
    return list(Cancellation.objects.filter(pk__in=ids).select_related("line__order"))


def test_chaos(accounts, redis_broker_url, capsys):
    mirakl, walmart = accounts
    before = celery_app.conf.task_always_eager, celery_app.conf.task_default_queue
    processes = Processes(redis_broker_url)
    celery_app.conf.task_always_eager, celery_app.conf.task_default_queue = False, processes.queue
    started = time.monotonic()
    try:
        ids = []
        for account, reason in ((mirakl, "21"), (walmart, "CANCEL_BY_SELLER")):
            lines = list(OrderLine.objects.filter(order__account=account).order_by("pk"))
            for chunk in range(0, len(lines), 15):
                ids += [c.pk for c in cancellation_request(
                    lines=[LineRequest(line_id=line.pk, quantity=1 + line.pk % 2) for line in lines[chunk:chunk + 15]],
                    reason=reason, source="api")]
        # Kill the worker while it sends (the sandbox holds every answer 150 ms), then start a new one.
        deadline = time.monotonic() + 20
        while not MarketplaceCall.objects.filter(operation="cancel", state="sending").exists():
            assert time.monotonic() < deadline, "nothing was being sent"
            time.sleep(0.05)
        os.kill(processes.worker.pid, signal.SIGKILL)
        processes.worker.wait(timeout=10)
        killed_mid_send = MarketplaceCall.objects.filter(operation="cancel", state="sending").count()
        processes.worker = processes.worker_start()
        final = _settle(ids, processes, timeout=150)
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_default_queue = before
        processes.stop()
    elapsed = time.monotonic() - started

    statuses = Counter(c.status for c in final)
    lost = [c.pk for c in final if c.status not in TERMINAL_STATUSES]
    applied = defaultdict(int)  # (seller, order, line) -> units our requests applied, as the sandbox recorded
    for seller_id, order_id, line_id, units in (SandboxCancel.objects.filter(source=SandboxCancel.REQUEST)
                                                .values_list("seller_id", "order_id", "line_id")
                                                .annotate(units=Sum("quantity"))):
        applied[(seller_id, order_id, line_id)] += units
    seller_of = {mirakl.pk: mirakl.sandbox_seller.pk, walmart.pk: walmart.sandbox_seller.pk}
    twice, unproven, wrong_reason = [], [], []
    for c in final:
        units = applied[(seller_of[c.account_id], c.line.order.external_id, c.line.external_id)]
        confirmed = c.quantity if c.status == "confirmed" else 0
        maybe = c.quantity if c.status == "needs_attention" else 0
        if units > confirmed + maybe:
            twice.append((c.pk, c.status, units))
        if units < confirmed:
            unproven.append((c.pk, units))
        if c.status in ("rejected", "failed", "needs_attention") and not (c.error_code and c.error_message):
            wrong_reason.append(c.pk)
        if c.status == "needs_attention" and c.error_code != "ambiguous_outcome":
            wrong_reason.append(c.pk)
    foreign = SandboxCancel.objects.filter(source=SandboxCancel.FOREIGN).count()
    tally = (f"chaos: requested={len(final)} confirmed={statuses['confirmed']} rejected={statuses['rejected']} "
             f"failed={statuses['failed']} needs_attention={statuses['needs_attention']} "
             f"applied_twice={len(twice)} lost={len(lost) + len(unproven)} | foreign cancels={foreign} "
             f"worker killed with {killed_mid_send} call(s) mid-send | {elapsed:.0f} s")
    with capsys.disabled():
        print("\n" + tally)
    assert len(final) >= 200
    assert not lost and not twice and not unproven and not wrong_reason, tally
    assert statuses["confirmed"] > len(final) / 2, tally
