"""Fast but polite: how fast one account's sends may go, shared by every worker.

Per account: at most ``cap`` sends at once (default ``MARKETPLACE_MAX_CONCURRENT_SENDS``, 16), reached by a slow
start (2 at first, one more per answered send), and an optional rate (sends per second, spaced evenly). A 429
pauses the whole account until its ``Retry-After``; then the pace restarts at a fraction of what was going
through (and half the sends in flight) and ramps back up with each answered send. One burst lowers the pace
once: the 429s of sends that left before the pace was lowered (other workers' sends already on the wire)
extend the pause but lower nothing again, so more workers never mean a slower pace or more 429s after it.
Neither marketplace publishes numbers for cancel calls, so the defaults set no rate; an account's own figures
override them.

The state lives where every worker sees it: Redis with a broker (one key per account, updated by a
compare-and-set script, expiring when idle), process memory in the embedded default (one process sends).
Because every worker asks the same state before sending, more workers never mean more sends at once or a
faster pace.
Clocks are the machines' wall clocks (``time.time``): keep workers' clocks synchronised (NTP) as usual.
"""

from __future__ import annotations

import functools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.conf import settings

T = TypeVar("T")

#: A send holds its slot at most this long (a worker that died mid-send frees it then).
LEASE_SECONDS = 120.0
#: After a 429 the pace restarts at this fraction of the rate that was going through...
THROTTLE_BACKOFF = 0.9
#: ...and grows by this fraction with every answered send, until no limit is left; PROBE_RAMP times slower from
#: the rate a paced send last met a 429 at up to PROBE_ZONE times it, where the next 429 is likely.
RAMP_PER_SEND = 0.005
PROBE_RAMP = 0.2
PROBE_ZONE = 1.25
MIN_RATE = 0.2
#: An adaptive pace above this many sends/s is no longer a limit: it is dropped.
RAMP_CEILING = 1000.0
#: Sends in flight an account starts with (then one more per answered send, up to its cap; a 429 halves it), so
#: an account whose limit nobody knows meets its first 429 with a few sends on the wire, however many workers.
START_WINDOW = 2.0
WINDOW_CEILING = 10_000.0
#: Under a rate, how far behind schedule sends may catch up (a burst of at most rate x this).
CATCH_UP_SECONDS = 0.5
#: Recent send starts kept to estimate the rate that was going through when a 429 came (a refused send's start
#: is taken out: it did not go through)...
RECENT_STARTS = 50
#: ...over the last RECENT_SECONDS; a marketplace's limit lets a burst through (typically RATE_HORIZON seconds'
#: worth), so a burst from idle says how much a second allows, not how fast it may go (``_rate_lowered``).
RECENT_SECONDS = 2.0
RATE_HORIZON = 1.0
BURST_MARGIN = 0.95


@dataclass(frozen=True)
class Limits:
    cap: int
    rate: float | None = None  # sends per second; None: no fixed rate


@dataclass
class PaceState:
    slots: dict[str, float] = field(default_factory=dict)  # send token -> lease expiry
    next_at: float = 0.0  # earliest start of the next send under the current rate
    paused_until: float = 0.0
    adaptive_rate: float | None = None  # learnt from 429s; ramps back up
    recent: list[float] = field(default_factory=list)  # the last send starts
    throttled: int = 0  # 429s received
    window: float = START_WINDOW  # sends in flight allowed now: starts small, +1 per answer, halved by a 429
    lowered_at: float = 0.0  # when a 429 last lowered the pace: older sends' 429s do not lower it again
    lowered_from: float | None = None  # the learnt pace before that lowering (None: there was none)
    ceiling: float | None = None  # the rate paced sends last met a 429 at: the ramp slows just above it

    def rate(self, limits: Limits) -> float | None:
        rates = [r for r in (limits.rate, self.adaptive_rate) if r]
        return min(rates) if rates else None


@dataclass(frozen=True)
class Grant:
    """``token`` set: the send may start after ``wait`` seconds. Else come back after ``wait`` seconds."""

    token: str | None
    wait: float


def acquire(state: PaceState, limits: Limits, now: float, *, max_wait: float) -> Grant:
    """Take a slot (and, under a rate, the next start time) unless the account is paused, full or booked up
    beyond ``max_wait`` seconds."""
    state.slots = {t: expiry for t, expiry in state.slots.items() if expiry > now}
    if state.paused_until > now:
        return Grant(None, state.paused_until - now)
    if len(state.slots) >= max(min(limits.cap, int(state.window)), 1):
        return Grant(None, 0.05 if max_wait > 0 else 0.5)  # a slot frees when a send ends: look again soon
    rate = state.rate(limits)
    # Under a rate, a send late for its slot (a busy worker) may use it within CATCH_UP_SECONDS, so the pace
    # holds on average; never more than that half second's worth in a burst.
    learnt = rate is not None and rate != limits.rate  # a pace learnt from 429s: no catch-up bursts
    base = max(state.next_at, now - (0 if learnt else CATCH_UP_SECONDS))
    start = max(now, base) if rate else now
    if start - now > max_wait:
        return Grant(None, start - now - max_wait / 2)
    if rate:
        state.next_at = base + 1 / rate
    token = uuid.uuid4().hex
    state.slots[token] = start + LEASE_SECONDS
    state.recent = [*state.recent[-(RECENT_STARTS - 1):], start]
    return Grant(token, start - now)


def _acquire_now(state: PaceState, *, limits: Limits, max_wait: float) -> Grant:
    return acquire(state, limits, time.time(), max_wait=max_wait)


def release(state: PaceState, token: str, now: float, *, throttled: bool = False,
            retry_after: float | None = None) -> None:
    """Free the slot; a 429 pauses the account and lowers the pace, an answer ramps it back up."""
    in_flight = len(state.slots)
    expiry = state.slots.pop(token, None)
    if throttled:
        started = expiry - LEASE_SECONDS if expiry is not None else now
        for t in state.recent:
            if abs(t - started) < 1e-6:  # (the lease expiry less the lease: the start, give or take rounding)
                state.recent.remove(t)  # refused: it did not go through
                break
        pause(state, now, retry_after=retry_after)
        if started < state.lowered_at:
            # Sent before this burst's first 429 lowered the pace: the same burst, not a new one. It only tells
            # that less went through then than was counted: the same lowering, counted again without it.
            lowered = _rate_lowered(state.recent, state.lowered_at, state.lowered_from)
            if lowered and state.adaptive_rate:
                state.adaptive_rate = min(state.adaptive_rate, lowered)
            return
        state.lowered_at, state.lowered_from = now, state.adaptive_rate
        state.window = max(1.0, in_flight / 2)
        state.adaptive_rate = _rate_lowered(state.recent, now, state.adaptive_rate) or state.adaptive_rate
        if state.lowered_from and state.adaptive_rate:  # paced: the 429 came at about the rate it lowered from
            state.ceiling = state.adaptive_rate / THROTTLE_BACKOFF
        return
    state.window = min(state.window + 1, WINDOW_CEILING)
    if state.adaptive_rate:
        probing = state.ceiling and state.ceiling <= state.adaptive_rate < state.ceiling * PROBE_ZONE
        state.adaptive_rate *= 1 + RAMP_PER_SEND * (PROBE_RAMP if probing else 1)
        if state.adaptive_rate > RAMP_CEILING:
            state.adaptive_rate = state.ceiling = None


def pause(state: PaceState, now: float, *, retry_after: float | None) -> None:
    """Count a 429 and make the account's sends wait for its Retry-After. Alone (a 429 on a read-back or a sync,
    not a send), nothing is learnt about the sends' pace."""
    state.throttled += 1
    state.paused_until = max(state.paused_until, now + (retry_after if retry_after else 1.0))
    state.next_at = max(state.next_at, state.paused_until)


def _rate_lowered(starts: list[float], now: float, paced: float | None) -> float | None:
    """The pace after a 429 at ``now``, from the sends that went through over the last RECENT_SECONDS and the
    learnt pace they went at (``paced``). None when too few sends tell nothing: then the pause alone.

    Paced sends: a fraction (THROTTLE_BACKOFF) of the pace and of what went through. Unpaced sends (nothing
    learnt yet) are a burst the marketplace let through: its limit allows about RATE_HORIZON seconds' worth at
    once plus its rate meanwhile, so n sends started over s seconds, then a refusal, tell about
    (n + 1/2) / (s + RATE_HORIZON) a second, kept with a small margin."""
    last = [t for t in starts if now - RECENT_SECONDS <= t <= now]
    if len(last) < 2:
        return max(MIN_RATE, paced * THROTTLE_BACKOFF) if paced else None
    span = max(last) - min(last)
    if not paced:
        return max(MIN_RATE, (len(last) + 0.5) / (span + RATE_HORIZON) * BURST_MARGIN)
    going = (len(last) - 1) / max(span, RATE_HORIZON)
    return max(MIN_RATE, min(paced, going) * THROTTLE_BACKOFF)


# ------------------------------------------------------------------------------------------- stores


class LocalStore:
    """Pace states in this process (the embedded default: one process sends)."""

    def __init__(self) -> None:
        self._states: dict[int, PaceState] = {}
        self._lock = threading.Lock()

    def update(self, account_id: int, change: Callable[[PaceState], T]) -> T:
        with self._lock:
            return change(self._states.setdefault(account_id, PaceState()))

    def read(self, account_id: int) -> PaceState:
        with self._lock:
            state = self._states.get(account_id) or PaceState()
            return PaceState(**json.loads(json.dumps(state.__dict__)))

    def clear(self) -> None:
        with self._lock:
            self._states.clear()


#: Compare and set, in one round trip: write ARGV[2] if the key still holds ARGV[1] (empty: no key), answering
#: nil; else write nothing and answer what the key holds now.
_COMPARE_AND_SET = """
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then
  return current
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
return false
"""


class RedisStore:
    """Pace states in Redis, shared by every worker process and machine.

    An update is one round trip when nobody else wrote the state since this process last saw it: the change is
    computed from that last seen value and written by a compare-and-set script, which answers the state as it is
    when someone else wrote meanwhile (then the change is computed again from it, as a WATCH/MULTI transaction
    would). Another process's WATCH/MULTI on the same key sees these writes too."""

    def __init__(self, url: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url)
        self._compare_and_set = self.redis.register_script(_COMPARE_AND_SET)
        self._seen: dict[str, bytes] = {}  # key -> the value this process last read or wrote (a guess)
        self._locks: dict[str, threading.Lock] = {}  # this process's threads update a key one at a time

    def _key(self, account_id: int) -> str:
        return f"backoffice:pace:{account_id}"

    def update(self, account_id: int, change: Callable[[PaceState], T]) -> T:
        key = self._key(account_id)
        with self._locks.setdefault(key, threading.Lock()):
            raw = self._seen.get(key)
            if raw is None:
                raw = self.redis.get(key) or b""
            while True:
                state = _state_load(raw)
                result = change(state)
                new = json.dumps(state.__dict__).encode()
                current = self._compare_and_set(keys=[key], args=[raw, new, int(LEASE_SECONDS * 30)])
                if current is None:
                    self._seen[key] = new
                    return result
                raw = current  # another process wrote first: compute the change again from its state

    def read(self, account_id: int) -> PaceState:
        return _state_load(self.redis.get(self._key(account_id)))

    def clear(self) -> None:
        for key in self.redis.scan_iter(self._key("*")):  # type: ignore[arg-type]
            self.redis.delete(key)
        self._seen.clear()


def _state_load(raw: bytes | None) -> PaceState:
    if not raw:
        return PaceState()
    try:
        data = json.loads(raw)
        return PaceState(**{k: v for k, v in data.items() if k in PaceState.__dataclass_fields__})
    except (ValueError, TypeError):
        return PaceState()  # an unreadable state is a fresh start, never a stuck account


_store: LocalStore | RedisStore | None = None
_store_lock = threading.Lock()


def pace_store() -> LocalStore | RedisStore:
    """Redis when Celery runs on a Redis broker, else this process's memory."""
    global _store
    with _store_lock:
        if _store is None:
            url = settings.MARKETPLACE_PACE_REDIS_URL
            _store = RedisStore(url) if url else LocalStore()
        return _store


# ------------------------------------------------------------------------------------------- for a send


#: A configured rate is kept with this margin: sends leave a few milliseconds late or early on a busy machine, and
#: a marketplace counting arrivals at exactly its limit would answer 429 to the jitter.
RATE_MARGIN = 0.95


def account_limits(*, cap: int | None, rate: float | None) -> Limits:
    return Limits(cap=cap or settings.MARKETPLACE_MAX_CONCURRENT_SENDS,
                  rate=float(rate) * RATE_MARGIN if rate else None)


class SendPermit:
    """One send's place in its account's pace: ``send_permit`` waits (up to ``max_wait``) or says when to retry."""

    def __init__(self, account_id: int, token: str) -> None:
        self.account_id, self.token, self.released = account_id, token, False

    def release(self, *, throttled: bool = False, retry_after: float | None = None) -> None:
        """Give the slot back (once; later calls do nothing)."""
        if self.released:
            return
        self.released = True
        pace_store().update(self.account_id, lambda s: release(s, self.token, time.time(), throttled=throttled,
                                                               retry_after=retry_after))


def send_permit(account_id: int, limits: Limits, *, max_wait: float = 1.0) -> SendPermit | float:
    """A permit to send, after waiting here at most ``max_wait`` s; else the seconds after which to ask again."""
    deadline = time.monotonic() + max_wait
    while True:
        left = max(deadline - time.monotonic(), 0.0)
        grant = pace_store().update(account_id, functools.partial(_acquire_now, limits=limits, max_wait=left))
        if grant.token is not None:
            if grant.wait > 0:
                time.sleep(grant.wait)
            return SendPermit(account_id, grant.token)
        if grant.wait >= left:
            return grant.wait
        time.sleep(grant.wait)


def account_throttled(account_id: int, *, retry_after: float | None) -> None:
    """A call of the account other than a send (a read-back, a sync) got a 429: pause the account's sends."""
    pace_store().update(account_id, lambda s: pause(s, time.time(), retry_after=retry_after))


def account_paused_for(account_id: int) -> float:
    """Seconds the account's calls still wait after a 429 (0: not paused)."""
    return max(pace_store().read(account_id).paused_until - time.time(), 0.0)


@dataclass(frozen=True)
class PaceView:
    """What the account page shows."""

    sending: int
    cap: int
    rate: float | None
    configured_rate: float | None
    paused_until: float | None
    throttled: int


def account_pace(account_id: int, limits: Limits) -> PaceView:
    state = pace_store().read(account_id)
    now = time.time()
    return PaceView(
        sending=sum(1 for expiry in state.slots.values() if expiry > now), cap=limits.cap,
        rate=state.rate(limits), configured_rate=limits.rate,
        paused_until=state.paused_until if state.paused_until > now else None, throttled=state.throttled,
    )


def account_pace_of(account: Any) -> PaceView:
    """``account_pace`` for a ``MarketplaceAccount`` with its own cap and rate."""
    return account_pace(account.pk, account_limits(cap=account.max_concurrent_sends,
                                                   rate=account.rate_limit_per_second))
