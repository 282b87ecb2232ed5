"""The one interface every marketplace backend implements, its result types and its error tree.

A backend talks HTTP and nothing else: it never touches the ORM. It receives a plain ``AccountConfig``,
returns plain result objects, and reports every HTTP exchange (secrets masked) to the ``on_exchange``
callback, which the service layer turns into ``MarketplaceCall`` rows.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

import requests
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from ..masking import mask_headers, mask_text
from ..money import LineTax, TaxAmount
from ..netguard import BaseUrlError, base_url_validate, is_destination_refused
from .http_sessions import session_for

# ---------------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class AccountConfig:
    """What a backend needs to know about an account (decrypted credentials included; never log it)."""

    name: str
    marketplace: str
    base_url: str
    credentials: Mapping[str, Any]
    options: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # never print the credentials
        return f"AccountConfig(name={self.name!r}, marketplace={self.marketplace!r}, base_url={self.base_url!r})"


@dataclass(frozen=True)
class LineCancel:
    """One line to cancel in a batch. ``ref`` is the caller's id (our Cancellation pk) echoed in results."""

    ref: int
    order_id: str
    line_id: str
    quantity: int
    reason_code: str
    amount: Decimal = Decimal("0")
    shipping_amount: Decimal = Decimal("0")
    taxes: tuple[TaxAmount, ...] = ()
    shipping_taxes: tuple[TaxAmount, ...] = ()
    currency: str = ""
    tax_mode: str = ""
    # Units of this line already cancelled on the marketplace before this request (Walmart reads the
    # returned order's Cancelled quantity and compares it with previously_cancelled + quantity).
    previously_cancelled: int = 0
    #: The line's status as last read from the marketplace (a backend may choose its call by it).
    line_status: str = ""
    fees: tuple[TaxAmount, ...] = ()
    #: Other lines of the order to accept in the same call (a refusal must decide every waiting line).
    accept_others: tuple[str, ...] = ()
    #: The account cancels whole orders only (the marketplace refuses partial cancels for it).
    whole_order: bool = False


# --------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Exchange:
    """One HTTP exchange, already masked, as the service layer stores it."""

    operation: str
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str
    status_code: int | None
    response_headers: dict[str, str]
    response_body: str
    duration_ms: int
    correlation_id: str
    error: str = ""


class LineOutcome:
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    UNKNOWN = "unknown"  # a success answer that does not say what happened to this line


@dataclass(frozen=True)
class LineResult:
    ref: int
    line_id: str
    outcome: str  # LineOutcome
    marketplace_reference: str = ""
    error_code: str = ""
    error_message: str = ""
    #: Units of the line now cancelled on the marketplace, and its status, when the answer tells
    #: (Walmart returns the order).
    cancelled_quantity: int | None = None
    line_status: str = ""


@dataclass(frozen=True)
class PreparedCall:
    """The cancel request a backend would send for some lines (no auth headers: they are made per attempt)."""

    method: str
    url: str
    body: str
    #: The marketplace's name for the call (e.g. Mirakl's "OR21"), shown on the confirmation page and dry run.
    name: str = ""


@dataclass(frozen=True)
class CancelResult:
    lines: tuple[LineResult, ...]
    raw: str = ""


@dataclass(frozen=True)
class ExternalCancellation:
    """A cancellation the marketplace reports on a line (Mirakl ``cancelations[]``)."""

    id: str
    quantity: int
    amount: Decimal = Decimal("0")
    shipping_amount: Decimal = Decimal("0")
    taxes: tuple[TaxAmount, ...] = ()
    shipping_taxes: tuple[TaxAmount, ...] = ()
    reason_code: str = ""
    fees: tuple[TaxAmount, ...] = ()


@dataclass(frozen=True)
class MarketplaceOrderLine:
    external_id: str
    sku: str
    title: str
    quantity: int
    unit_price: Decimal
    price: Decimal
    shipping_price: Decimal
    status: str
    cancelled_quantity: int
    taxes: tuple[LineTax, ...] = ()
    shipping_taxes: tuple[LineTax, ...] = ()
    cancellations: tuple[ExternalCancellation, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)
    fees: tuple[LineTax, ...] = ()
    #: Units the seller may still cancel, where the marketplace tracks status per unit (Walmart: Created or
    #: Acknowledged units); None where the line's status decides for all its units (Mirakl).
    open_quantity: int | None = None


@dataclass(frozen=True)
class MarketplaceOrder:
    external_id: str
    customer_order_id: str
    status: str
    currency: str
    ordered_at: datetime | None
    tax_mode: str
    lines: tuple[MarketplaceOrderLine, ...]
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reason:
    code: str
    label: str


# -------------------------------------------------------------------------------------------- errors


class MarketplaceError(Exception):
    """Root of every error a backend raises. Carries the marketplace's code and message."""

    def __init__(self, message: str, *, code: str = "", status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status_code = status_code

    @property
    def throttled(self) -> bool:
        """The marketplace's rate limit refused the call (429): the account's pace must wait."""
        return self.status_code == 429

    def summary(self, limit: int = 500) -> str:
        """``code: message`` for an account's or a task's error line, the message cut at ``limit``."""
        return f"{self.code}: {self.message[:limit]}"


class TransientError(MarketplaceError):
    """Worth retrying later: 429, 5xx, timeouts, connection errors.

    ``outcome_unknown`` is true when the request may have reached the marketplace and taken effect (a read
    timeout, a dropped connection after sending, a 5xx): the order must be read back before any resend.
    """

    def __init__(
        self, message: str, *, code: str = "", status_code: int | None = None,
        retry_after: float | None = None, outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message, code=code, status_code=status_code)
        self.retry_after = retry_after
        self.outcome_unknown = outcome_unknown


class PermanentError(MarketplaceError):
    """A business refusal (4xx). ``line_errors`` maps line ids to (code, message) when the marketplace
    names the offending lines; the other lines of the batch were then not the cause."""

    def __init__(
        self, message: str, *, code: str = "", status_code: int | None = None,
        line_errors: Mapping[str, tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message, code=code, status_code=status_code)
        self.line_errors = dict(line_errors or {})


class AccountError(MarketplaceError):
    """The account itself is the problem: 401/403, a key that does not load, missing credentials."""


class ConfigurationError(AccountError):
    """Bad account configuration found before any call (e.g. a non-https base URL)."""


# ------------------------------------------------------------------------------------------ the base


ExchangeCallback = Callable[[Exchange], None]
def validate_base_url(base_url: str) -> str:
    """The account's base URL if marketplace calls may use it (see ``netguard.base_url_validate``)."""
    try:
        return base_url_validate(base_url)
    except BaseUrlError as exc:
        raise ConfigurationError(str(exc), code="base_url_refused") from None


def response_text(response: requests.Response) -> str:
    """The body as text: its declared charset, else UTF-8 (what JSON and these XML APIs use).

    ``response.text`` guesses a missing charset by statistics over the whole body, which cost more CPU than
    parsing it.
    """
    return response.content.decode(response.encoding or "utf-8", errors="replace")


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


class MarketplaceBackend:
    """Template for a marketplace backend. Subclasses implement the four operations.

    Helpers here do the HTTP part once: a kept-alive session per thread and account, explicit timeouts, no
    HTTP-level retries, masking, recording and error classification. A subclass supplies
    ``secrets()`` (values to mask wherever they appear) and ``parse_error(response)``.
    """

    marketplace: ClassVar[str] = ""
    #: Most lines one cancel call may carry (None: no limit other than ``batch_key``).
    max_lines_per_cancel: ClassVar[int | None] = None
    #: True when ``iter_order_pages(since)`` filters on last update (Mirakl); False when it filters on
    #: creation date (Walmart CA), so a sync must look back a fixed window to see changes to older orders.
    lists_by_update_time: ClassVar[bool] = True
    #: True when order lines list each cancellation with an id (Mirakl ``cancelations[]``), so a read-back
    #: can find ours; False when only a cancelled quantity is known (Walmart).
    reports_cancellation_ids: ClassVar[bool] = False

    def __init__(self, account: AccountConfig, *, on_exchange: ExchangeCallback | None = None,
                 timeout: tuple[float, float] | None = None) -> None:
        self.account = account
        self.base_url = validate_base_url(account.base_url)
        self.on_exchange = on_exchange
        self.timeout = timeout or tuple(settings.MARKETPLACE_HTTP_TIMEOUT)
        # This thread's kept-alive session for the account: the next call skips the connection handshake.
        self.session = session_for((account.name, self.base_url))

    def close(self) -> None:
        """Nothing to release: the session and its connection stay for this account's next call on this thread
        (``http_sessions.sessions_close`` closes them)."""

    def __enter__(self) -> MarketplaceBackend:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- the interface -------------------------------------------------------------------------------

    @classmethod
    def batch_key(cls, line: LineCancel) -> str:
        """Lines with the same key may travel in one cancel call."""
        return ""

    @classmethod
    def call_name(cls, line: LineCancel) -> str:
        """The marketplace's call that would carry this line, for people (confirmation page, dry run); "" when
        the marketplace has one cancel call only."""
        return ""

    def cancel_request(self, lines: Sequence[LineCancel]) -> PreparedCall:
        """What ``cancel_lines`` sends for these lines (used as is by it, and shown by a dry run)."""
        raise NotImplementedError

    def cancel_lines(self, lines: Sequence[LineCancel]) -> CancelResult:
        raise NotImplementedError

    def get_order(self, order_id: str) -> MarketplaceOrder:
        raise NotImplementedError

    def iter_order_pages(self, since: datetime) -> Iterator[list[MarketplaceOrder]]:
        """Orders updated (or created, see ``lists_by_update_time``) since ``since``, one page at a time."""
        raise NotImplementedError

    def list_reasons(self) -> list[Reason]:
        raise NotImplementedError

    def connection_test(self) -> str:
        """One cheap read call proving the base URL and the credentials work; says what it found."""
        raise NotImplementedError

    # --- hooks ---------------------------------------------------------------------------------------

    def secrets(self) -> list[str]:
        """Secret values to mask wherever they appear in recorded exchanges."""
        return [str(v) for v in self.account.credentials.values() if isinstance(v, str)]

    def parse_error(self, response: requests.Response) -> tuple[str, str, dict[str, tuple[str, str]]]:
        """(code, message, line_errors) from an error response."""
        return "", response_text(response)[:500], {}

    # --- HTTP ----------------------------------------------------------------------------------------

    def new_correlation_id(self) -> str:
        return str(uuid.uuid4())

    @sensitive_variables("headers", "req", "prepared")
    def request(
        self, operation: str, method: str, url: str, *, headers: Mapping[str, str] | None = None,
        body: str | bytes | None = None, correlation_id: str = "", ok_statuses: Sequence[int] = (),
    ) -> requests.Response:
        """Send one request to ``url`` exactly as given (already encoded), record it, classify errors."""
        started = time.monotonic()
        response: requests.Response | None = None
        error = ""
        try:
            # A prepared request keeps the URL byte-identical to what was signed.
            req = requests.Request(method, url, headers=dict(headers or {}), data=body)
            prepared = self.session.prepare_request(req)
            prepared.url = url
            response = self.session.send(prepared, timeout=self.timeout, allow_redirects=False)
        except requests.ConnectTimeout as exc:
            error = f"connect timeout: {exc}"
            raise TransientError("Connection to the marketplace timed out", code="connect_timeout") from exc
        except requests.Timeout as exc:
            error = f"read timeout: {exc}"
            raise TransientError(
                "The marketplace did not answer in time", code="timeout", outcome_unknown=True
            ) from exc
        except requests.ConnectionError as exc:
            error = f"connection error: {exc}"
            if is_destination_refused(exc):
                raise ConfigurationError(
                    "The marketplace host resolved to an address calls may not go to (loopback, private, "
                    "link-local, multicast or reserved).", code="destination_refused",
                ) from exc
            # A refused connection never reached the marketplace; a dropped one may have.
            refused = "refused" in str(exc).lower() or "Failed to resolve" in str(exc)
            raise TransientError(
                "Could not connect to the marketplace" if refused else "The connection dropped",
                code="connection_error", outcome_unknown=not refused,
            ) from exc
        finally:
            self._record(operation, method, url, headers, body, response, started, correlation_id, error)
        self._raise_for_status(response, ok_statuses)
        return response

    def _raise_for_status(self, response: requests.Response, ok_statuses: Sequence[int]) -> None:
        status = response.status_code
        if 200 <= status < 300 or status in ok_statuses:
            return
        code, message, line_errors = self.parse_error(response)
        message = message or f"HTTP {status}"
        if status == 429:
            raise TransientError(
                message, code=code or "rate_limited", status_code=status,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status >= 500:
            raise TransientError(
                message, code=code or f"http_{status}", status_code=status, outcome_unknown=True,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status in (401, 403):
            raise AccountError(message, code=code or f"http_{status}", status_code=status)
        raise PermanentError(message, code=code or f"http_{status}", status_code=status, line_errors=line_errors)

    @sensitive_variables("headers", "secrets")
    def _record(self, operation, method, url, headers, body, response, started, correlation_id, error) -> None:
        if self.on_exchange is None:
            return
        secrets = self.secrets()
        self.on_exchange(
            Exchange(
                operation=operation,
                method=method,
                url=mask_text(url, secrets),
                request_headers=mask_headers(headers),
                request_body=mask_text(body, secrets),
                status_code=response.status_code if response is not None else None,
                response_headers=mask_headers(dict(response.headers)) if response is not None else {},
                response_body=mask_text(response.content, secrets) if response is not None else "",
                duration_ms=int((time.monotonic() - started) * 1000),
                correlation_id=correlation_id,
                error=mask_text(error, secrets),
            )
        )
