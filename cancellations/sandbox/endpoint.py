"""The one request pipeline every emulated marketplace answers through.

A view built by ``endpoint(emulator, operation, method, handler)`` runs, in order: the method check, the
emulator's authentication, the **rate-limit knob**, fault injection (a queued ``SandboxFault`` first, else a
seeded random one from the seller's ``chaos`` option), the handler, the request log, then the **latency
knob**. Emulators supply only what differs: how a caller authenticates, how an error looks on their wire,
which lines a request names, and how someone else cancels a unit (``Emulator``).

Knobs (a seller's ``SandboxSeller.options`` wins over the setting):

* latency: ``options["latency_ms"]`` or ``settings.SANDBOX_LATENCY_MS`` (env ``SANDBOX_LATENCY_MS``). Every
  answer, errors included, is held back that long in the answering thread, after the work is done and
  logged, so concurrent calls overlap as they would on a network.
* rate limit: ``options["rate_limit_per_second"]`` or ``settings.SANDBOX_RATE_LIMIT_PER_SECOND`` (env of the
  same name; 0 = none). A token bucket per seller (burst = one second's worth) in this process: above R
  calls/s the answer is the marketplace's 429 with ``Retry-After`` (whole seconds until a call is allowed).
  Refused calls consume nothing. The sandbox runs in one process (the demo's server, the tests' live
  server), so the limit is exact; with several sandbox processes each enforces its own.
* chaos: ``options["chaos"] = {"seed": 7, "rates": {"server_error": 0.05, "drop_after_apply": 0.05, ...},
  "operations": ["cancel"], "params": {"slow_after_apply": {"delay": 3}}}``: each request of those
  operations (default: cancel) draws one fault kind with those probabilities from a ``random.Random(seed)``
  kept per seller, so a run is reproducible for a given order of requests.

Faults (``FaultKind``): ``rate_limit`` (429 + Retry-After), ``server_error`` (500, nothing applied),
``unauthorized`` (401), ``reject_line`` (the marketplace's business refusal naming one line, nothing
applied), ``slow`` (nothing applied; a cancel gets a 504 after ``delay`` s, other reads answer late),
``slow_before_apply`` (wait ``delay`` s, then apply and answer), ``slow_after_apply`` (apply, answer after
``delay`` s), ``drop_after_apply`` (apply, log, then close the connection without an answer),
``foreign_cancel`` (someone else cancels ``quantity`` unit(s) of the requested line first, recorded with
source ``foreign``; then the request is served as usual and may be refused for what is left).
"""

from __future__ import annotations

import functools
import logging
import math
import random
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from . import state
from .models import FaultKind, SandboxFault, SandboxSeller

logger = logging.getLogger(__name__)

#: The WSGI environ key under which the patched development server exposes the client's socket.
SOCKET_ENVIRON_KEY = "sandbox.socket"
DEFAULT_DELAY_SECONDS = 3.0
DEFAULT_RETRY_AFTER_SECONDS = 1
CHAOS_DEFAULT_OPERATIONS = ("cancel",)
#: Faults that answer at once instead of serving the request (nothing applied).
IMMEDIATE = frozenset({FaultKind.RATE_LIMIT, FaultKind.SERVER_ERROR, FaultKind.UNAUTHORIZED,
                       FaultKind.REJECT_LINE})
#: Operations that change marketplace state (the only ones a "not applied" 504 makes sense for).
WRITES = frozenset({"cancel", "refuse", "cancel_order"})


@dataclass
class Call:
    """One request as the pipeline and the emulator's handler see it."""

    request: HttpRequest
    marketplace: str
    operation: str
    mode: str = ""
    seller: SandboxSeller | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    kwargs: dict[str, Any] = field(default_factory=dict)


class Answer(Exception):  # noqa: N818 (it is an answer, raised to end the request early)
    """Raised anywhere while serving a call: this response is the answer."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__(response.status_code)
        self.response = response


class Emulator(Protocol):
    """What an emulated marketplace supplies to the pipeline."""

    marketplace: str

    def authenticate(self, call: Call) -> SandboxSeller: ...

    def error(self, call: Call, status: int, kind: str, message: str,
              headers: Mapping[str, str] | None = None) -> HttpResponse:
        """The marketplace's own error answer; ``kind`` is one of the ``ERROR_*`` names below."""

    def line_rejected(self, call: Call, line_id: str, code: str, message: str) -> HttpResponse: ...

    def requested_lines(self, call: Call) -> list[tuple[str, str, int]]:
        """``(order_id, line_id, quantity)`` the request asks to cancel (empty when unreadable)."""

    def foreign_cancel(self, seller: SandboxSeller, order_id: str, line_id: str, quantity: int,
                       reason: str = "") -> int:
        """Cancel up to ``quantity`` open units as someone else would; the units cancelled."""

    def finish(self, call: Call, response: HttpResponse) -> None:
        """Last touches on every answer (e.g. echo a correlation id)."""


ERROR_METHOD = "method_not_allowed"
ERROR_RATE_LIMITED = "rate_limited"
ERROR_SERVER = "server_error"
ERROR_UNAUTHORIZED = "unauthorized"
ERROR_TIMEOUT = "timeout"


# ------------------------------------------------------------------------------------------ knobs


def latency_seconds(seller: SandboxSeller | None) -> float:
    options = seller.options if seller is not None else {}
    value = (options or {}).get("latency_ms", getattr(settings, "SANDBOX_LATENCY_MS", 0))
    return max(float(value or 0), 0.0) / 1000


def rate_limit(seller: SandboxSeller) -> float:
    value = (seller.options or {}).get(
        "rate_limit_per_second", getattr(settings, "SANDBOX_RATE_LIMIT_PER_SECOND", 0)
    )
    return max(float(value or 0), 0.0)


class TokenBuckets:
    """Per-seller token buckets: ``rate`` tokens a second, at most ``max(rate, 1)`` saved up."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[int, tuple[float, float]] = {}  # seller id -> (tokens, when)

    def take(self, seller_id: int, rate: float, now: float | None = None) -> int:
        """0 when a call is allowed (and counted), else the whole seconds to wait."""
        now = time.monotonic() if now is None else now
        capacity = max(rate, 1.0)
        with self._lock:
            tokens, when = self._buckets.get(seller_id, (capacity, now))
            tokens = min(capacity, tokens + (now - when) * rate)
            if tokens >= 1:
                self._buckets[seller_id] = (tokens - 1, now)
                return 0
            self._buckets[seller_id] = (tokens, now)
        return max(1, math.ceil((1 - tokens) / rate))

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()


buckets = TokenBuckets()


class ChaosDice:
    """One ``random.Random(seed)`` per seller and seed, shared by the threads answering that seller."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rngs: dict[tuple[int, Any], random.Random] = {}

    def draw(self, seller: SandboxSeller, operation: str) -> SandboxFault | None:
        chaos = (seller.options or {}).get("chaos") or {}
        rates = chaos.get("rates") or {}
        if not rates or operation not in chaos.get("operations", CHAOS_DEFAULT_OPERATIONS):
            return None
        with self._lock:
            rng = self._rngs.setdefault((seller.pk, chaos.get("seed")), random.Random(chaos.get("seed")))
            roll = rng.random()
        for kind, probability in rates.items():
            roll -= float(probability)
            if roll < 0:
                params = (chaos.get("params") or {}).get(kind, {})
                return SandboxFault(seller=seller, marketplace=seller.marketplace, operation=operation,
                                    kind=kind, params=params)
        return None

    def reset(self) -> None:
        with self._lock:
            self._rngs.clear()


dice = ChaosDice()


def knobs_reset() -> None:
    """Forget rate-limit buckets and chaos dice (tests, or after changing a seller's options)."""
    buckets.reset()
    dice.reset()


# ------------------------------------------------------------------------------------------ pipeline


@dataclass
class _After:
    """What happens once the answer is ready: hold it back, or close the connection instead."""

    delay: float = 0.0
    drop: bool = False


def _delay(fault: SandboxFault) -> float:
    return float((fault.params or {}).get("delay", DEFAULT_DELAY_SECONDS))


def _immediate(emulator: Emulator, call: Call, fault: SandboxFault) -> HttpResponse:
    params = fault.params or {}
    if fault.kind == FaultKind.RATE_LIMIT:
        retry_after = str(params.get("retry_after", DEFAULT_RETRY_AFTER_SECONDS))
        return emulator.error(call, 429, ERROR_RATE_LIMITED, "Too many requests; retry later.",
                              {"Retry-After": retry_after})
    if fault.kind == FaultKind.SERVER_ERROR:
        return emulator.error(call, 500, ERROR_SERVER, "Internal server error")
    if fault.kind == FaultKind.UNAUTHORIZED:
        return emulator.error(call, 401, ERROR_UNAUTHORIZED, "Unauthorized: the credentials were revoked")
    requested = emulator.requested_lines(call)
    line_id = str(params.get("line_id") or (requested[0][1] if requested else "1"))
    return emulator.line_rejected(call, line_id, str(params.get("code") or ""),
                                  str(params.get("message") or "rejected by the marketplace"))


def _foreign_cancel(emulator: Emulator, call: Call, fault: SandboxFault) -> None:
    params = fault.params or {}
    requested = emulator.requested_lines(call)
    wanted = str(params.get("line_id") or "")
    target = next((r for r in requested if not wanted or r[1] == wanted), None)
    if target is None or call.seller is None:
        return
    done = emulator.foreign_cancel(call.seller, target[0], target[1], int(params.get("quantity", 1)),
                                   str(params.get("reason") or ""))
    logger.info("Sandbox fault: %s unit(s) of %s/%s cancelled by someone else", done, target[0], target[1])


def _serve(emulator: Emulator, call: Call, handler: Callable[[Call], HttpResponse]) -> tuple[HttpResponse, _After]:
    assert call.seller is not None
    fault = state.fault_take(marketplace=call.marketplace, operation=call.operation, seller=call.seller)
    fault = fault or dice.draw(call.seller, call.operation)
    kind = fault.kind if fault else None
    if fault is not None:
        logger.info("Sandbox fault %s on %s %s", kind, call.marketplace, call.operation)
    if fault is not None and kind in IMMEDIATE:
        return _immediate(emulator, call, fault), _After()
    if kind == FaultKind.SLOW and call.operation in WRITES:
        # The marketplace gave up downstream: nothing was applied, and the 504 comes late.
        return emulator.error(call, 504, ERROR_TIMEOUT, "Gateway timeout: nothing was applied"), _After(_delay(fault))
    if kind == FaultKind.SLOW_BEFORE_APPLY:
        time.sleep(_delay(fault))
    if kind == FaultKind.FOREIGN_CANCEL:
        _foreign_cancel(emulator, call, fault)
    response = handler(call)  # commits its own changes
    if kind in (FaultKind.SLOW, FaultKind.SLOW_AFTER_APPLY):
        return response, _After(delay=_delay(fault))
    return response, _After(drop=kind == FaultKind.DROP_AFTER_APPLY)


def connection_drop(request: HttpRequest) -> bool:
    """Close the client's connection with no answer (a reset). False when the server does not expose it."""
    sock = request.META.get("gunicorn.socket") or request.META.get(SOCKET_ENVIRON_KEY)
    if sock is None:
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already gone: the client sees a dropped connection either way
    return True


def endpoint(emulator: Emulator, operation: str | Callable[[HttpRequest], str], method: str,
             handler: Callable[..., HttpResponse], *, mode: str = "") -> Callable[..., HttpResponse]:
    """A Django view answering ``method`` requests with ``handler(call, **url_kwargs)`` through the pipeline."""

    @csrf_exempt
    @functools.wraps(handler)
    def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        op = operation(request) if callable(operation) else operation
        call = Call(request=request, marketplace=emulator.marketplace, operation=op, mode=mode, kwargs=kwargs)
        after = _After()
        try:
            if request.method != method:
                raise Answer(emulator.error(call, 405, ERROR_METHOD,
                                            f"Method {request.method} is not allowed here; use {method}"))
            call.seller = emulator.authenticate(call)
            limit = rate_limit(call.seller)
            wait = buckets.take(call.seller.pk, limit) if limit else 0
            if wait:
                raise Answer(emulator.error(call, 429, ERROR_RATE_LIMITED, "Too many requests; retry later.",
                                            {"Retry-After": str(wait)}))
            response, after = _serve(emulator, call, lambda c: handler(c, **kwargs))
        except Answer as answer:
            response = answer.response
        except Exception:  # a sandbox bug: answer like a marketplace would, and say so in the log
            logger.exception("%s sandbox failed on %s %s", emulator.marketplace, request.method, request.path)
            response = emulator.error(call, 500, ERROR_SERVER, "Internal server error")
        emulator.finish(call, response)
        state.request_log(
            marketplace=call.marketplace, operation=op, method=request.method or "", path=request.get_full_path(),
            status_code=None if after.drop else response.status_code, seller=call.seller,
            request_id=call.request_id,
        )
        # After every database write: a client that gave up leaves nothing half done.
        pause = latency_seconds(call.seller) + after.delay
        if pause:
            time.sleep(pause)
        if after.drop and not connection_drop(request):
            raise ConnectionAbortedError("sandbox fault drop_after_apply: no socket to drop")
        return response

    return view


# ------------------------------------------------------------------------------------------ dev server


def dev_server_patch() -> None:
    """Let Django's development and live-test servers serve the sandbox like a marketplace host.

    Those servers drop every header whose name contains an underscore (so ``X_Auth`` cannot pose as
    ``X-Auth``), and every Walmart header has one: names starting with ``WM_`` are let through (nothing
    outside the sandbox reads them; gunicorn needs ``--header-map dangerous`` for the same reason). The
    client's socket is exposed as ``environ["sandbox.socket"]`` so the ``drop_after_apply`` fault can
    close it (gunicorn exposes ``gunicorn.socket`` itself).
    """
    from django.core.servers import basehttp

    handler = basehttp.WSGIRequestHandler
    if getattr(handler, "_sandbox_patched", False):
        return
    strip_and_build = handler.get_environ

    def get_environ(self: Any) -> dict[str, Any]:
        kept = [(k, v) for k, v in self.headers.items() if k.upper().startswith("WM_")]
        environ = strip_and_build(self)
        for name, value in kept:
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        environ[SOCKET_ENVIRON_KEY] = self.connection
        return environ

    handler.get_environ = get_environ
    handler._sandbox_patched = True
