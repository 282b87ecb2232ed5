"""What a marketplace declares about itself, so the rest of the product can read it instead of naming it.

A ``MarketplaceSpec`` is plain data: services (which lines may be cancelled, how reasons resolve, whether
amounts are priced), the admin form and the API serializer (credential fields per auth mode, options), the
dashboard (the cancellation-rate threshold), the sandbox and the demo all derive from it. A marketplace
package exposes one as ``spec.SPEC``; ``registry`` lists them from settings. This module imports nothing
from Django or HTTP, so a spec can be read anywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

#: Operations a line status may allow. ``cancel``: a cancel call for some or all units; ``refuse``: the
#: line is refused whole (an order not yet accepted).
CANCEL, REFUSE = "cancel", "refuse"


@dataclass(frozen=True)
class CredentialField:
    """One credential value. ``check`` raises ``ValueError`` with a message safe to show (never the value)."""

    key: str
    label: str
    max_length: int = 500
    help_text: str = ""
    check: Callable[[str], None] | None = None


@dataclass(frozen=True)
class AuthMode:
    """One way to authenticate, with the credential fields it needs (all required, no other allowed)."""

    key: str
    label: str
    fields: tuple[CredentialField, ...]
    #: Shown wherever an account still uses this mode (admin warning, system check); empty when fine.
    deprecation: str = ""


@dataclass(frozen=True)
class OptionField:
    """One account option. ``choices`` restricts a text option; ``integer_ok`` also accepts an integer."""

    key: str
    label: str
    help_text: str = ""
    choices: tuple[str, ...] = ()
    integer_ok: bool = False
    boolean: bool = False


@dataclass(frozen=True)
class FixedReason:
    """A reason code the marketplace documents (known without asking it), and the normalised reason it means."""

    code: str
    label: str
    normalised: str = ""


@dataclass(frozen=True)
class DemoAccount:
    name: str
    options: Mapping[str, Any]
    credentials: Callable[[], dict[str, Any]]


@dataclass(frozen=True)
class MarketplaceSpec:
    key: str
    label: str
    #: Dotted path of the ``MarketplaceBackend`` subclass.
    backend: str
    currency: str
    #: Line status (lower case, as the marketplace reports it) -> the operation it allows (``CANCEL``,
    #: ``REFUSE``). A status absent here allows nothing.
    line_operations: Mapping[str, str]
    #: Seller cancellation rate (30 days) at or above which the account is over the marketplace's limit.
    #: Required: a missing threshold must never read as 0 % (every account "over threshold").
    rate_threshold: Decimal
    #: True when the marketplace tracks status per unit (Walmart): a line whose overall status allows nothing
    #: may still have open units, and those decide.
    units_per_status: bool = False
    #: True when a cancel carries amounts (item, shipping, each tax) computed by ``pricing`` (pro rata, the
    #: last units taking the exact remainder); False when it carries quantities only and the marketplace
    #: computes the refund.
    cancel_carries_amounts: bool = False
    #: Reasons known without asking the marketplace. Empty: they come from the marketplace (``list_reasons``).
    fixed_reasons: tuple[FixedReason, ...] = ()
    #: The code sent for a normalised reason no fixed reason maps to; empty: such a reason is refused.
    fallback_reason: str = ""
    auth_modes: tuple[AuthMode, ...] = ()
    #: The auth mode a new account gets when none is chosen.
    default_auth: str = ""
    #: True when the credentials name their mode (``{"auth": "oauth", ...}``), as Walmart's do.
    auth_in_credentials: bool = False
    #: The mode of an account that names none (made before modes were recorded); ``default_auth`` if empty.
    unnamed_auth: str = ""
    options: tuple[OptionField, ...] = ()
    #: A boolean account option that, when true, means the marketplace cancels whole orders only for the account:
    #: a request must then take every open unit of every line of an order ("" when partial cancels are allowed).
    whole_order_option: str = ""
    #: A boolean account option that, when true, allows refusing some waiting lines of an order while accepting
    #: the others in the same call (off by default: "" or unset, every waiting line is decided alike).
    partial_acceptance_option: str = ""
    #: The sandbox emulator module (serves ``urlpatterns``, seeds with ``orders_seed(seller)``) and its URL
    #: prefix under ``/sandbox/``.
    sandbox_module: str = ""
    sandbox_path: str = ""
    demo_accounts: tuple[DemoAccount, ...] = field(default=())
    #: The line status the marketplace reports once every unit is cancelled (shown right after our confirmed
    #: cancellation, before the next sync); empty: unknown, the status changes with the next sync.
    cancelled_line_status: str = ""
    #: Help texts where the product shows marketplace ids.
    order_id_label: str = "order id"
    line_id_label: str = "line id"

    def __post_init__(self) -> None:
        if self.rate_threshold <= 0:
            raise ValueError(f"{self.key}: rate_threshold must be a positive share (e.g. Decimal('0.03'))")
        if self.auth_modes and self.default_auth not in {m.key for m in self.auth_modes}:
            raise ValueError(f"{self.key}: default_auth must be one of its auth modes")

    # --- reads -------------------------------------------------------------------------------------------

    def operation_for(self, status: str) -> str | None:
        return self.line_operations.get((status or "").lower())

    def cancels_whole_orders(self, options: Mapping[str, Any]) -> bool:
        return bool(self.whole_order_option) and (options or {}).get(self.whole_order_option) is True

    def allows_partial_acceptance(self, options: Mapping[str, Any]) -> bool:
        return bool(self.partial_acceptance_option) and (options or {}).get(self.partial_acceptance_option) is True

    def auth_mode(self, key: str) -> AuthMode | None:
        return next((m for m in self.auth_modes if m.key == key), None)

    def account_auth(self, options: Mapping[str, Any], credentials: Mapping[str, Any]) -> str:
        """The auth mode an account uses: the one it names (options, then credentials), else the implied one."""
        named = options.get("auth") or credentials.get("auth")
        if isinstance(named, str) and self.auth_mode(named) is not None:
            return named
        return self.unnamed_auth or self.default_auth

    @property
    def has_auth_choice(self) -> bool:
        """More than one auth mode: the account stores which one it uses (``options['auth']``)."""
        return len(self.auth_modes) > 1

    def credential_fields(self) -> dict[str, CredentialField]:
        """Every credential field of every auth mode, by key (a key shared by modes appears once)."""
        return {f.key: f for mode in self.auth_modes for f in mode.fields}

    def fixed_reason_codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.fixed_reasons)

    def fixed_normalised(self, code: str) -> str:
        return next((r.normalised for r in self.fixed_reasons if r.code == code), "")

    def code_for_normalised(self, normalised: str) -> str:
        """The fixed code that stands for ``normalised``, else the fallback code ("" when neither)."""
        mapped = next((r.code for r in self.fixed_reasons if r.normalised == normalised), "")
        return mapped or self.fallback_reason
