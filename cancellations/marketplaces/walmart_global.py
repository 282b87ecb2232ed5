"""The Walmart Global API client, shared by every Walmart market (``WM_MARKET``: ca, us, ...).

OAuth client credentials: an access token from ``/v3/token``, cached per process until shortly before it
expires, sent as ``WM_SEC.ACCESS_TOKEN`` with JSON bodies on ``/v3/orders``. All lines of one purchase order
travel in one cancel call; Walmart answers with the whole order, from which each line's outcome is read (its
Cancelled quantity must have grown by what was asked). A market's backend sets ``market`` and its spec;
Walmart Canada adds the legacy signature mode on top (``walmart_ca.backend``).
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import requests
from django.views.decorators.debug import sensitive_variables

from .base import (
    AccountError,
    CancelResult,
    LineCancel,
    LineOutcome,
    LineResult,
    MarketplaceBackend,
    MarketplaceOrder,
    PermanentError,
    PreparedCall,
    Reason,
    TransientError,
    response_text,
)
from .spec import MarketplaceSpec
from .walmart_ca import codec as wx

SERVICE_NAME = "Walmart Marketplace"
AUTH_OAUTH = "oauth"
JSON = "application/json"


# ------------------------------------------------------------------------------------ token cache


class _TokenCache:
    """Access tokens per (base URL, client id), shared by every backend instance of this process."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self.lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> str | None:
        entry = self._tokens.get(key)
        if entry and entry[1] > time.monotonic():
            return entry[0]
        return None

    def put(self, key: tuple[str, str], token: str, expires_in: float) -> None:
        # Renew a minute early (or halfway for very short tokens) so a token never expires mid-request.
        lifetime = max(expires_in - 60, expires_in / 2)
        self._tokens[key] = (token, time.monotonic() + lifetime)

    def drop(self, key: tuple[str, str], token: str) -> None:
        with self.lock:
            if self._tokens.get(key, ("",))[0] == token:
                del self._tokens[key]

    def clear(self) -> None:
        with self.lock:
            self._tokens.clear()


_TOKENS = _TokenCache()


def token_cache_clear() -> None:
    """Forget every cached access token (tests; after rotating a client secret)."""
    _TOKENS.clear()


# ---------------------------------------------------------------------------------------- backend


class WalmartGlobalBackend(MarketplaceBackend):
    #: The ``WM_MARKET`` header value.
    market: ClassVar[str] = ""
    spec: ClassVar[MarketplaceSpec]
    #: Orders per list page: Walmart's documented maximum (``limit`` ≤ 200), so a sync makes the fewest calls.
    page_size: int = 200
    lists_by_update_time = False  # the orders list filters on createdStartDate only
    auth_mode: str = AUTH_OAUTH

    # --- the interface -------------------------------------------------------------------------------

    @classmethod
    def batch_key(cls, line: LineCancel) -> str:
        return line.order_id

    def list_reasons(self) -> list[Reason]:
        return [Reason(code=r.code, label=r.label) for r in self.spec.fixed_reasons]

    def get_order(self, order_id: str) -> MarketplaceOrder:
        return self._read(self._call("get_order", "GET", self._orders_path(order_id)), "order")

    def connection_test(self) -> str:
        """One orders page of one order from the last 30 days (plus the token fetch in OAuth mode)."""
        start = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        query = "?" + urlencode({"createdStartDate": start, "limit": 1})
        response = self._call("list_orders", "GET", self._orders_path() + query, ok_statuses=(404,))
        if response.status_code == 404:
            self._no_orders_or_raise(response)
            return "Connected: the orders API answered (no order in the last 30 days)."
        page = self._read(response, "page")
        latest = f" (latest: {page.orders[0].external_id})" if page.orders else ""
        return f"Connected: the orders API answered{latest}."

    def iter_order_pages(self, since: datetime) -> Iterator[list[MarketplaceOrder]]:
        """Orders created since ``since``, following ``meta.nextCursor`` (appended verbatim, it starts with ?)."""
        start = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        query = "?" + urlencode({"createdStartDate": start, "limit": self.page_size})
        seen: set[str] = set()
        while query and query not in seen:
            seen.add(query)
            response = self._call("list_orders", "GET", self._orders_path() + query, ok_statuses=(404,))
            if response.status_code == 404:
                self._no_orders_or_raise(response)
                return
            page = self._read(response, "page")
            if page.orders:
                yield page.orders
            query = page.next_cursor if page.orders else ""

    def cancel_request(self, lines: Sequence[LineCancel]) -> PreparedCall:
        if not lines:
            raise ValueError("No lines to cancel")
        order_ids = {line.order_id for line in lines}
        if len(order_ids) != 1:
            raise ValueError(f"One Walmart cancel call carries one purchase order, got {sorted(order_ids)}")
        line_ids = [line.line_id for line in lines]
        if len(set(line_ids)) != len(line_ids):
            raise ValueError("A line appears twice in one Walmart cancel call.")
        return PreparedCall("POST", self.base_url + self._orders_path(lines[0].order_id, "cancel"),
                            self._cancel_body(lines))

    def cancel_lines(self, lines: Sequence[LineCancel]) -> CancelResult:
        prepared = self.cancel_request(lines)
        path = prepared.url.removeprefix(self.base_url)
        response = self._call("cancel", prepared.method, path, body=prepared.body)
        try:
            order = self._read(response, "order")
        except TransientError as exc:
            # Walmart said 200 but we cannot read what it applied: find out by reading the order back.
            raise TransientError(exc.message, code=exc.code, status_code=response.status_code,
                                 outcome_unknown=True) from exc
        return CancelResult(lines=_line_results(lines, order), raw=response_text(response))

    # --- hooks ---------------------------------------------------------------------------------------

    def secrets(self) -> list[str]:
        values = [self.account.credentials.get(k) for k in ("private_key", "client_secret")] + [self._token]
        return [str(v) for v in values if v]

    def parse_error(self, response: requests.Response) -> tuple[str, str, dict[str, tuple[str, str]]]:
        errors = wx.errors_from_body(response.content)
        if not errors:
            return "", response_text(response)[:500], {}
        message = "; ".join(dict.fromkeys(e.message for e in errors if e.message))
        line_errors = {e.line_number: (e.code, e.message) for e in errors if e.line_number}
        return errors[0].code, message, line_errors

    # --- the wire (a market with another API overrides these) ----------------------------------------

    _token: str = ""

    def _orders_root(self) -> str:
        return "/v3/orders"

    def _cancel_body(self, lines: Sequence[LineCancel]) -> str:
        return wx.cancel_body_json(lines)

    @sensitive_variables("headers")
    def _auth_headers(self, url: str, method: str, correlation_id: str) -> dict[str, str]:
        headers = {
            "WM_SEC.ACCESS_TOKEN": self._access_token(),
            "WM_MARKET": self.market,
            "WM_GLOBAL_VERSION": "3.1",
            "WM_QOS.CORRELATION_ID": correlation_id,
            "WM_SVC.NAME": SERVICE_NAME,
            "Accept": JSON,
        }
        channel_type = self.account.credentials.get("channel_type")
        if channel_type:
            headers["WM_CONSUMER.CHANNEL.TYPE"] = str(channel_type)
        return headers

    def _parse(self, body: bytes, kind: str) -> Any:
        read = wx.order_from_json if kind == "order" else wx.orders_page_from_json
        return read(body, currency=self.spec.currency)

    # --- HTTP ----------------------------------------------------------------------------------------

    def _orders_path(self, order_id: str = "", action: str = "") -> str:
        path = self._orders_root()
        if order_id:
            path += "/" + quote(order_id, safe="")
        return path + ("/" + action if action else "")

    @sensitive_variables("headers")
    def _call(self, operation: str, method: str, path: str, *, body: str | None = None,
              ok_statuses: Sequence[int] = ()) -> requests.Response:
        """One attempt: the final URL is built once here, signed (or token-stamped) and sent unchanged."""
        url = self.base_url + path
        correlation_id = self.new_correlation_id()
        headers = self._auth_headers(url, method, correlation_id)
        headers["Content-Type"] = headers["Accept"]
        try:
            return self.request(
                operation, method, url, headers=headers, body=body.encode() if body is not None else None,
                correlation_id=correlation_id, ok_statuses=ok_statuses,
            )
        except AccountError:
            if self.auth_mode == AUTH_OAUTH and self._token:
                # The token may have been revoked early: forget it so the next call fetches a new one.
                _TOKENS.drop(self._token_key(), self._token)
            raise

    def _read(self, response: requests.Response, kind: str) -> Any:
        """Parse a 200 body (an order or a page); an unreadable body is worth a retry, not a crash."""
        try:
            return self._parse(response.content, kind)
        except wx.WalmartPayloadError as exc:
            raise TransientError(f"Unreadable answer from Walmart: {exc}", code="unreadable_response",
                                 status_code=response.status_code) from exc

    def _no_orders_or_raise(self, response: requests.Response) -> None:
        """Walmart answers 404 CONTENT_NOT_FOUND when no order matches; any other 404 is an error."""
        code, message, _ = self.parse_error(response)
        if not code.upper().startswith("CONTENT_NOT_FOUND"):
            raise PermanentError(message or "HTTP 404", code=code or "http_404", status_code=404)

    @sensitive_variables("value")
    def _credential(self, name: str) -> str:
        value = self.account.credentials.get(name)
        if not value or not isinstance(value, str):
            raise AccountError(f"Walmart {self.auth_mode} credentials lack {name!r}", code="missing_credentials")
        return value

    # --- OAuth ---------------------------------------------------------------------------------------

    def _token_key(self) -> tuple[str, str]:
        return (self.base_url, self._credential("client_id"))

    @sensitive_variables("token")
    def _access_token(self) -> str:
        key = self._token_key()
        with _TOKENS.lock:  # one fetch at a time per process; the others then find it cached
            token = _TOKENS.get(key)
            if token is None:
                token, expires_in = self._token_fetch()
                _TOKENS.put(key, token, expires_in)
        self._token = token
        return token

    @sensitive_variables("client_secret", "basic", "data", "token")
    def _token_fetch(self) -> tuple[str, float]:
        client_id, client_secret = self._credential("client_id"), self._credential("client_secret")
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
        correlation_id = self.new_correlation_id()
        response = self.request(
            "token", "POST", self.base_url + "/v3/token",
            headers={
                "Authorization": f"Basic {basic}",
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": JSON,
                "WM_QOS.CORRELATION_ID": correlation_id,
                "WM_SVC.NAME": SERVICE_NAME,
                "WM_MARKET": self.market,
            },
            body=b"grant_type=client_credentials", correlation_id=correlation_id,
        )
        try:
            data = wx.json_parse(response.content)
            token = str(data["access_token"])
            expires_in = float(data.get("expires_in") or 900)
        except (wx.WalmartPayloadError, KeyError, TypeError, ValueError) as exc:
            raise AccountError("Walmart's token answer has no access_token", code="token_unreadable") from exc
        return token, expires_in


# ----------------------------------------------------------------------------------------- helpers


def _line_results(lines: Sequence[LineCancel], order: MarketplaceOrder) -> tuple[LineResult, ...]:
    """A line is confirmed when Walmart's Cancelled quantity reaches what was cancelled before plus now."""
    returned: Mapping[str, Any] = {line.external_id: line for line in order.lines}
    expected = {line.line_id: line.previously_cancelled + line.quantity for line in lines}
    results = []
    for line in lines:
        found = returned.get(line.line_id)
        cancelled = found.cancelled_quantity if found is not None else None
        if cancelled is not None and cancelled >= expected[line.line_id]:
            results.append(LineResult(ref=line.ref, line_id=line.line_id, outcome=LineOutcome.CONFIRMED,
                                      cancelled_quantity=cancelled, line_status=found.status))
            continue
        if found is None:  # the answer is silent about this line: not a refusal, the caller reads it back
            results.append(LineResult(ref=line.ref, line_id=line.line_id, outcome=LineOutcome.UNKNOWN,
                                      error_code="line_missing_from_answer",
                                      error_message=f"Walmart's answer does not contain line {line.line_id}"))
            continue
        message = (f"Walmart shows {cancelled} unit(s) of line {line.line_id} cancelled, "
                   f"expected {expected[line.line_id]}")
        results.append(LineResult(ref=line.ref, line_id=line.line_id, outcome=LineOutcome.REJECTED,
                                  error_code="not_applied", error_message=message, cancelled_quantity=cancelled))
    return tuple(results)
