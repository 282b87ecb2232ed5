"""A real Celery worker process, fed through the Redis broker, sends a cancellation end to end."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from backoffice.celery import app as celery_app
from cancellations.services import LineRequest, cancellation_request
from tests.integration.conftest import cancel_calls_received, lines_of

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker(postgres_only, redis_broker_url, live_server):
    """Start `celery worker` on the test database; stop it afterwards."""
    db = connection.settings_dict
    database_url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    queue = f"test-{os.getpid()}"
    env = {**os.environ, "DATABASE_URL": database_url, "CELERY_BROKER_URL": redis_broker_url,
           "CELERY_TASK_DEFAULT_QUEUE": queue}
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "backoffice", "worker", "--pool", "solo", "--queues", queue,
         "--without-mingle", "--without-gossip", "--loglevel", "INFO"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    before = celery_app.conf.task_always_eager, celery_app.conf.task_default_queue
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    try:
        yield proc
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_default_queue = before
        proc.terminate()
        try:
            output, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
        print(output[-4000:])


def test_worker_processes_a_cancellation_end_to_end(worker, mirakl_live):
    line = lines_of(mirakl_live, "BBY-1002-A")[0]
    (c,) = cancellation_request(lines=[LineRequest(line_id=line.pk, quantity=1)], reason="21", source="api")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        c.refresh_from_db()
        if c.status not in ("pending", "sending"):
            break
        assert worker.poll() is None, "the worker exited"
        time.sleep(0.5)
    assert c.status == "confirmed", c.status
    assert c.marketplace_reference and cancel_calls_received(mirakl_live) == 1
