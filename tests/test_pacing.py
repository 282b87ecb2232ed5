"""The per-account pace of sends: concurrency cap, rate, 429 pause and ramp, shared by every worker."""

from __future__ import annotations

import pytest

from cancellations import pacing
from cancellations.pacing import Limits, PaceState, acquire, release


def test_the_cap_bounds_sends_in_flight_and_a_finished_send_frees_its_slot():
    state, limits = PaceState(window=100), Limits(cap=2)
    first, second = acquire(state, limits, 100.0, max_wait=1), acquire(state, limits, 100.0, max_wait=1)
    assert first.token and second.token and first.wait == second.wait == 0
    assert acquire(state, limits, 100.0, max_wait=1).token is None  # full
    release(state, first.token, 100.1)
    assert acquire(state, limits, 100.1, max_wait=1).token


def test_a_slot_of_a_worker_that_died_is_freed_after_its_lease():
    state, limits = PaceState(), Limits(cap=1)
    assert acquire(state, limits, 100.0, max_wait=1).token
    assert acquire(state, limits, 100.0 + pacing.LEASE_SECONDS - 1, max_wait=1).token is None
    assert acquire(state, limits, 100.0 + pacing.LEASE_SECONDS + 1, max_wait=1).token


def test_a_rate_spaces_sends_evenly_and_says_when_to_come_back():
    state, limits = PaceState(window=100), Limits(cap=16, rate=4)
    waits = [acquire(state, limits, 100.0, max_wait=1).wait for _ in range(7)]
    assert waits == [0, 0, 0, 0.25, 0.5, 0.75, 1.0]  # at most half a second's worth (2) at once, then 4/s
    later = acquire(state, limits, 100.0, max_wait=1)
    assert later.token is None and later.wait == pytest.approx(0.75)  # booked beyond max_wait: come back


def test_sends_late_for_their_slot_catch_up_only_half_a_second():
    state, limits = PaceState(window=100), Limits(cap=16, rate=4)
    for _ in range(7):
        acquire(state, limits, 100.0, max_wait=1)  # booked up to 101.25
    # Workers busy until 103: the pace resumes with at most 2 extra sends, not the 7 missed slots.
    waits = [acquire(state, limits, 103.0, max_wait=1).wait for _ in range(4)]
    assert waits == [0, 0, 0, 0.25]


def test_a_429_pauses_the_whole_account_then_the_pace_ramps_back_up():
    state, limits = PaceState(window=100), Limits(cap=16)
    grants = [acquire(state, limits, 100.0 + n * 0.1, max_wait=1) for n in range(10)]  # ~10 sends/s
    release(state, grants[-1].token, 101.0, throttled=True, retry_after=3)
    refused = acquire(state, limits, 102.0, max_wait=1)
    assert refused.token is None and refused.wait == pytest.approx(2.0)  # paused until 104
    # 9 sends went through over 0.8 s (the refused one did not): a second's worth at once plus the rate over
    # those 0.8 s, so about 9.5 / 1.8 a second, and the pace restarts a little below that.
    assert state.adaptive_rate == pytest.approx(9.5 / 1.8 * pacing.BURST_MARGIN)
    assert state.window == 5  # half the ten in flight
    for grant in grants[:-1]:
        release(state, grant.token, 102.5)  # the others' answers come in during the pause
    slow = state.adaptive_rate
    resumed = acquire(state, limits, 104.0, max_wait=1)
    assert resumed.token and resumed.wait == 0
    release(state, resumed.token, 104.1)
    assert state.adaptive_rate == pytest.approx(slow * (1 + pacing.RAMP_PER_SEND))
    state.adaptive_rate = pacing.RAMP_CEILING
    release(state, "", 105.0)
    assert state.adaptive_rate is None and state.throttled == 1  # ramped all the way: no limit left


def test_an_account_starts_with_few_sends_in_flight_whatever_the_workers_then_opens_up():
    state, limits = PaceState(), Limits(cap=16)
    first = [acquire(state, limits, 100.0, max_wait=1) for _ in range(8)]  # eight workers at once
    granted = [g.token for g in first if g.token]
    assert len(granted) == pacing.START_WINDOW  # the first 429 (if any) meets two sends, not eight
    for token in granted:
        release(state, token, 100.1)  # two answers: room for four
    assert sum(1 for _ in range(8) if acquire(state, limits, 100.2, max_wait=1).token) == 4
    tokens = list(state.slots)
    release(state, tokens[0], 100.3, throttled=True, retry_after=1)
    assert state.window == 2  # half the four that were in flight


def test_the_429s_of_one_burst_lower_the_pace_once_whatever_the_workers():
    """A marketplace lets 4 sends a second through. Two workers or eight meet its first 429 with a few sends on
    the wire; every one of them comes back 429, but the pace is lowered once, to what went through."""
    learnt = {}
    for workers in (2, 8):
        state, limits, went_through, now = PaceState(), Limits(cap=16), 0, 100.0
        while not state.throttled:  # rounds of sends, as many as the workers and the pace allow
            grants = [g for g in (acquire(state, limits, now, max_wait=1) for _ in range(workers)) if g.token]
            refused = grants[max(4 - went_through, 0):]
            for grant in refused:  # a 429 comes back first: the marketplace does no work for it
                release(state, grant.token, now + 0.05, throttled=True, retry_after=1)
            for grant in grants[:len(grants) - len(refused)]:
                release(state, grant.token, now + 0.055)
            went_through += len(grants) - len(refused)
            now += 0.06
        learnt[workers] = (state.adaptive_rate, state.throttled)
    # Four went through in the second: about 4/s, lowered once (not 2.4/s then 1.9/s from the same burst).
    for workers in (2, 8):
        rate, throttled = learnt[workers]
        assert rate == pytest.approx(4, rel=0.1) and throttled == 2


def test_a_429_of_a_send_older_than_the_last_lowering_extends_the_pause_only():
    state, limits = PaceState(window=100, adaptive_rate=5.0), Limits(cap=16)
    slow = acquire(state, limits, 99.0, max_wait=1).token  # a slow send, still on the wire
    grants = [acquire(state, limits, 100.0 + n * 0.2, max_wait=1).token for n in range(10)]  # 5/s
    release(state, grants[9], 101.9, throttled=True, retry_after=1)
    lowered, window = state.adaptive_rate, state.window
    assert lowered == pytest.approx(8 / 1.6 * pacing.THROTTLE_BACKOFF)  # 9 went through over 1.6 s
    release(state, slow, 102.0, throttled=True, retry_after=2)  # it left before the lowering: the same burst
    assert state.paused_until == pytest.approx(104.0) and state.throttled == 2
    assert state.window == window and state.adaptive_rate == pytest.approx(lowered)  # not lowered twice
    resumed = acquire(state, limits, 104.0, max_wait=1)
    release(state, resumed.token, 104.1, throttled=True, retry_after=1)  # sent after the lowering: a new burst
    assert state.adaptive_rate < lowered and state.window == 9 / 2  # half the nine on the wire


def test_a_configured_rate_is_never_exceeded_by_the_ramp():
    state = PaceState(adaptive_rate=50.0)
    assert state.rate(Limits(cap=16, rate=10)) == 10
    assert state.rate(Limits(cap=16, rate=None)) == 50


@pytest.fixture(params=["local", "redis"])
def store(request, monkeypatch):
    if request.param == "local":
        yield pacing.LocalStore()
        return
    import os

    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("required service missing: Redis")
        pytest.skip("needs Redis; set CELERY_BROKER_URL=redis://...")
    redis_store = pacing.RedisStore(url)
    monkeypatch.setattr(redis_store, "_key", lambda account_id: f"test-pace-{os.getpid()}:{account_id}")
    redis_store.clear()
    yield redis_store
    redis_store.clear()


def test_workers_sharing_a_store_never_exceed_the_cap_together(store, monkeypatch):
    """Eight workers (threads, each with its own connection for Redis) race for three slots."""
    import threading

    monkeypatch.setattr(pacing, "_store", store)
    store.update(7, lambda state: setattr(state, "window", 100.0))  # past the slow start
    limits, granted, lock = Limits(cap=3), [], threading.Lock()
    start = threading.Barrier(8)

    def worker():
        start.wait()
        permit = pacing.send_permit(7, limits, max_wait=0)
        if isinstance(permit, pacing.SendPermit):
            with lock:
                granted.append(permit)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 3
    view = pacing.account_pace(7, limits)
    assert view.sending == 3 and view.cap == 3 and view.paused_until is None
    granted[0].release(throttled=True, retry_after=30)
    granted[0].release()  # a second release changes nothing
    view = pacing.account_pace(7, limits)
    assert view.sending == 2 and view.paused_until is not None and view.throttled == 1
    assert pacing.send_permit(7, limits, max_wait=0) == pytest.approx(30, abs=1)


def test_a_429_outside_a_send_pauses_the_account_and_learns_nothing():
    state = PaceState(adaptive_rate=3.0, paused_until=105.0)
    pacing.pause(state, 100.0, retry_after=2)  # a read-back's 429 never shortens a pause
    assert state.paused_until == 105.0 and state.throttled == 1
    pacing.pause(state, 104.0, retry_after=None)
    assert state.paused_until == 105.0 and state.next_at == 105.0
    pacing.pause(state, 104.5, retry_after=3)
    assert state.paused_until == 107.5 and state.adaptive_rate == 3.0 and state.throttled == 3
    assert acquire(state, Limits(cap=16), 106.0, max_wait=1) == pacing.Grant(None, 1.5)


def test_updates_from_two_processes_both_count_and_an_expired_state_starts_afresh(store, monkeypatch):
    """Each Redis store computes a change from the value it last saw; a write by someone else since is seen."""
    other = store
    if isinstance(store, pacing.RedisStore):
        import os

        other = pacing.RedisStore(os.environ["CELERY_BROKER_URL"])  # another worker process
        monkeypatch.setattr(other, "_key", store._key)

    def count(state):
        state.throttled += 1
        return state.throttled

    assert store.update(3, count) == 1  # this process has seen the state now
    assert other.update(3, count) == 2  # another process writes meanwhile
    assert store.update(3, count) == 3  # computed again from the other's write, not from what it saw
    assert store.read(3).throttled == other.read(3).throttled == 3
    if isinstance(store, pacing.RedisStore):
        store.redis.delete(store._key(3))  # expired while idle
        assert store.update(3, count) == 1


def test_the_ramp_slows_just_above_the_rate_paced_sends_met_a_429_at():
    state, limits = PaceState(window=100, adaptive_rate=5.0), Limits(cap=16)
    grants = [acquire(state, limits, 100.0 + n * 0.2, max_wait=1).token for n in range(11)]  # 5/s for 2 s
    release(state, grants[-1], 102.05, throttled=True, retry_after=1)
    ceiling = state.ceiling
    assert ceiling == pytest.approx(5.0) and state.adaptive_rate == pytest.approx(5.0 * pacing.THROTTLE_BACKOFF)
    before = state.adaptive_rate
    release(state, grants[0], 103.1)  # below the rate of the 429: the usual ramp
    assert state.adaptive_rate == pytest.approx(before * (1 + pacing.RAMP_PER_SEND))
    state.adaptive_rate = ceiling * 1.1  # just above it, where the next 429 is likely: slowly
    release(state, grants[1], 103.2)
    assert state.adaptive_rate == pytest.approx(ceiling * 1.1 * (1 + pacing.RAMP_PER_SEND * pacing.PROBE_RAMP))
    state.adaptive_rate = ceiling * pacing.PROBE_ZONE  # well above it: the usual ramp again
    release(state, grants[2], 103.3)
    assert state.adaptive_rate == pytest.approx(ceiling * pacing.PROBE_ZONE * (1 + pacing.RAMP_PER_SEND))
