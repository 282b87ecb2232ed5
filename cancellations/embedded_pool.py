"""The embedded default's in-process worker pool: background work runs off the thread that asked for it.

With no broker, Celery runs tasks eagerly, i.e. inside the admin or API request that enqueued them: a 200-line
request waited for 99 Walmart round trips. Here the same tasks run on a few daemon threads of the same process,
so the request is answered as soon as its transaction commits.

Each thread has its own database connection (Django's are per thread), closed or kept between jobs as
``CONN_MAX_AGE`` says. Nothing is lost if the process stops with work still queued: the work is in the database
(queued calls, due verifications) and the sweeper completes it. ``EMBEDDED_POOL_THREADS = 0`` runs every job in
the caller's thread instead (the test suite's default, so a test sees the outcome when its request returns).
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import close_old_connections

log = logging.getLogger(__name__)

Job = tuple[Callable[..., Any], tuple[Any, ...]]


class EmbeddedPool:
    """A fixed number of daemon threads taking jobs from one queue; ``drain`` waits until all are done."""

    def __init__(self, threads: int) -> None:
        self._jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._unfinished = 0
        self._idle = threading.Condition()
        self.threads = [
            threading.Thread(target=self._work, name=f"embedded-pool-{n}", daemon=True) for n in range(threads)
        ]
        for thread in self.threads:
            thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        with self._idle:
            self._unfinished += 1
        self._jobs.put((fn, args))

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every submitted job (and every job those jobs submitted) has finished. False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unfinished == 0, timeout)

    def _work(self) -> None:
        while True:
            fn, args = self._jobs.get()
            close_old_connections()
            try:
                fn(*args)
            except Exception:  # the job's own records say what happened; the thread must live on
                log.exception("Background job %s failed", getattr(fn, "__qualname__", fn))
            finally:
                close_old_connections()
                with self._idle:
                    self._unfinished -= 1
                    self._idle.notify_all()


_pool: EmbeddedPool | None = None
_pool_lock = threading.Lock()


def embedded_pool() -> EmbeddedPool | None:
    """The process's pool, started on first use; None when ``EMBEDDED_POOL_THREADS`` is 0 (run inline)."""
    global _pool
    threads = settings.EMBEDDED_POOL_THREADS
    if threads <= 0:
        return None
    with _pool_lock:
        if _pool is None:
            _pool = EmbeddedPool(threads)
            # A command that enqueued work (cancel_lines, sync_orders) lets it finish before the process exits.
            atexit.register(_pool.drain, settings.EMBEDDED_POOL_EXIT_WAIT_SECONDS)
        return _pool


def embedded_submit(fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn(*args)`` on the pool, or right here when the pool is off."""
    pool = embedded_pool()
    if pool is None:
        fn(*args)
    else:
        pool.submit(fn, *args)


def embedded_submit_later(seconds: float, fn: Callable[..., Any], *args: Any) -> None:
    """Submit ``fn(*args)`` to the pool in ``seconds`` (a lost timer is harmless: the sweeper finds the work)."""
    timer = threading.Timer(seconds, embedded_submit, (fn, *args))
    timer.daemon = True
    timer.start()


def embedded_drain(timeout: float | None = None) -> bool:
    """Wait for the pool's work (True at once when there is no pool). For tests, benchmarks and commands."""
    return _pool.drain(timeout) if _pool is not None else True
