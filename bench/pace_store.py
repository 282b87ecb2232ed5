#!/usr/bin/env python
"""Client CPU per pace acquire + release (``pacing.send_permit`` then ``SendPermit.release``), Redis store.

Run: BENCH_REDIS_URL=redis://127.0.0.1:6379/7 .venv/bin/python bench/pace_store.py [--sends 2000]
(PACE_ROOT=/path/to/another/checkout measures that checkout's ``pacing`` instead, e.g. main before a change.)

T threads (1 and 8) share one account's pace in one Redis key, as a worker's threads do; each thread takes a
permit and gives it back ``--sends / T`` times. Prints the thread CPU time (``time.thread_time``: the client's
own cost, fair on a loaded machine) per acquire + release, the Redis round trips per pair (requests sent,
counted in redis-py's connection: a pipeline or a script is one) and the wall time.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(os.environ.get("PACE_ROOT") or Path(__file__).resolve().parent.parent)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/4")


class RoundTrips:
    """Requests this process sent to Redis (a pipeline or a script is one)."""

    def __init__(self) -> None:
        from redis.connection import Connection

        self.count, self.lock, send = 0, threading.Lock(), Connection.send_packed_command

        def counted(connection, command, check_health=True):
            with self.lock:
                self.count += 1
            return send(connection, command, check_health)

        Connection.send_packed_command = counted


def run(threads: int, sends: int) -> dict:
    from cancellations import pacing

    store = pacing.RedisStore(REDIS_URL)
    store.clear()
    pacing._store = store
    store.update(1, lambda state: setattr(state, "window", 1000.0))
    limits = pacing.Limits(cap=1000)
    cpu: list[float] = []
    barrier = threading.Barrier(threads)

    def worker() -> None:
        barrier.wait()
        started = time.thread_time()
        for _ in range(sends // threads):
            permit = pacing.send_permit(1, limits, max_wait=1.0)
            permit.release()
        cpu.append(time.thread_time() - started)

    trips = RoundTrips() if not hasattr(run, "trips") else run.trips
    run.trips = trips
    before, wall = trips.count, time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    wall = time.perf_counter() - wall
    done = sends // threads * threads
    calls = trips.count - before
    store.clear()
    return {"cpu_ms": sum(cpu) / done * 1000, "trips": calls / done, "wall_ms": wall / done * 1000}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sends", type=int, default=2000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")
    os.environ.setdefault("DJANGO_DEBUG", "true")
    os.environ["DJANGO_ENV_FILE"] = os.devnull
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    print(f"# Pace store, Redis ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load "
          f"{os.getloadavg()[0]:.1f}): client thread CPU per acquire + release")
    for threads in (1, 8):
        r = run(threads, args.sends)
        print(f"{threads} thread(s): {r['cpu_ms']:.3f} ms CPU, {r['trips']:.2f} Redis round trips, "
              f"{r['wall_ms']:.3f} ms wall per acquire + release")


if __name__ == "__main__":
    main()
