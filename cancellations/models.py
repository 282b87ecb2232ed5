"""Marketplace accounts, orders and lines as the marketplace reports them, and the cancellations we ask for.

A ``Cancellation`` is the durable intent (the outbox): it is written with the user's request and a later
dispatch or sweep sends it. A ``MarketplaceCall`` is one HTTP exchange; a cancel call row is created before
it is sent (the claim) and completed with the answer, so the trail shows what was asked, sent and answered.
"""

from __future__ import annotations

import copy
import uuid
from decimal import Decimal

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce

from .fields import EncryptedJSONField
from .marketplaces.registry import marketplace_choices, spec_for


class TaxMode(models.TextChoices):
    TAX_EXCLUDED = "TAX_EXCLUDED", "Tax excluded"
    TAX_INCLUDED = "TAX_INCLUDED", "Tax included"


class MarketplaceAccount(models.Model):
    """One seller account on one marketplace. Credentials are encrypted and write-only everywhere."""

    name = models.CharField(max_length=100, unique=True)
    # Choices from settings.MARKETPLACES (a callable): adding a marketplace needs no migration.
    marketplace = models.CharField(max_length=20, choices=marketplace_choices)
    base_url = models.URLField(help_text="The marketplace API's host root (https).")
    enabled = models.BooleanField(default=True)
    credentials = EncryptedJSONField(default=dict, blank=True)
    options = models.JSONField(
        default=dict,
        blank=True,
        help_text="The marketplace's account options, and 'auth' (the auth mode) where it offers several.",
    )
    # What the stored credentials were given for (marketplace, auth mode, host). Set whenever credentials are
    # saved; a backend refuses to send them anywhere else (see ``credentials_destination``).
    credentials_bound_to = models.CharField(max_length=400, blank=True, editable=False)
    # Pace of sends (see ``pacing``); empty: the defaults (16 at once, no fixed rate).
    max_concurrent_sends = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="Most cancel calls in flight at once for this account, all workers together (empty: 16).")
    rate_limit_per_second = models.DecimalField(
        max_digits=7, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(Decimal("0.01"))],
        help_text="Most cancel calls per second, if the marketplace gave this account a limit (empty: none; a 429 "
                  "still pauses the account for its Retry-After).")
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, help_text="Last account-level problem (bad key, 401/403).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # The last "Test connection": when, and what it found (or what failed, with the next step).
    connection_checked_at = models.DateTimeField(null=True, blank=True)
    connection_result = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        """The name, with the marketplace unless the name already says it ("Shop CA (Marketplace X)")."""
        label = self.get_marketplace_display()
        said = any(word.lower() in self.name.lower() for word in (label, label.split()[0]) if word)
        return self.name if said else f"{self.name} ({label})"

    def save(self, *args, **kwargs) -> None:
        # New credentials are bound to where the account points now; unchanged ones keep their binding, so
        # changing only the host (or marketplace, or auth mode) leaves them unusable until given again.
        if self._state.adding or self.credentials != getattr(self, "_loaded_credentials", None):
            self.credentials_bound_to = self.credentials_destination() if self.credentials else ""
            update_fields = kwargs.get("update_fields")
            if update_fields is not None and "credentials" in update_fields:
                kwargs["update_fields"] = {*update_fields, "credentials_bound_to"}
        super().save(*args, **kwargs)
        self._loaded_credentials = copy.deepcopy(self.credentials)

    @classmethod
    def from_db(cls, db, field_names, values):
        account = super().from_db(db, field_names, values)
        account._loaded_credentials = copy.deepcopy(account.__dict__.get("credentials"))
        return account

    def credentials_destination(self) -> str:
        """Where credentials are sent: marketplace, auth mode and host root, as one comparable string."""
        return f"{self.marketplace} {self.auth_mode} {self.base_url.rstrip('/')}"

    def credentials_give(self, credentials: dict) -> None:
        """Store ``credentials`` as given (again) by their owner for where the account points now."""
        self.credentials = credentials
        self._loaded_credentials = None  # saved as new: bound to the current destination

    def credentials_bound_here(self) -> bool:
        """True when the stored credentials were given for the current destination (or there are none)."""
        return not self.credentials or self.credentials_bound_to == self.credentials_destination()

    @property
    def spec(self):
        """What the marketplace declares (``marketplaces.spec.MarketplaceSpec``)."""
        return spec_for(self.marketplace)

    @property
    def auth_mode(self) -> str:
        return self.spec.account_auth(self.options or {}, self.credentials or {})


class AccountChange(models.Model):
    """Who changed where an account's calls go (host, marketplace, auth mode) or its credentials, and when.

    Never holds a secret: credentials appear only as the names of the keys that were set.
    """

    account = models.ForeignKey(MarketplaceAccount, on_delete=models.CASCADE, related_name="changes")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    source = models.CharField(max_length=10)
    changed = models.JSONField(default=list, help_text="Names of what changed, e.g. base_url, credentials.")
    before = models.JSONField(default=dict, blank=True, help_text="marketplace, auth, base_url before.")
    after = models.JSONField(default=dict, blank=True, help_text="marketplace, auth, base_url after.")
    credential_keys = models.JSONField(default=list, blank=True, help_text="Keys of the credentials now stored.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{', '.join(self.changed)} changed on {self.account_id}"


class Order(models.Model):
    account = models.ForeignKey(MarketplaceAccount, on_delete=models.PROTECT, related_name="orders")
    external_id = models.CharField(
        max_length=100, help_text="The marketplace's order id", db_index=True
    )
    customer_order_id = models.CharField(max_length=100, blank=True, db_index=True)
    status = models.CharField(max_length=50, blank=True, help_text="As the marketplace reports it.")
    currency = models.CharField(max_length=3, default="CAD")
    ordered_at = models.DateTimeField(null=True, blank=True, db_index=True)
    tax_mode = models.CharField(max_length=20, choices=TaxMode.choices, default=TaxMode.TAX_EXCLUDED)
    raw = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder, help_text="Last synced payload.")
    synced_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(
        null=True, blank=True, help_text="Last time the order was read from the marketplace (changed or not).")

    class Meta:
        ordering = ["-ordered_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "external_id"], name="order_unique_per_account"),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} ({self.account.name})"


# Statuses whose units are held: not cancellable again (needs_attention: it may have applied; a person decides).
IN_FLIGHT_STATUSES = ("pending", "sending", "retry_scheduled", "verifying", "needs_attention")


class OrderLineQuerySet(models.QuerySet):
    def with_in_flight(self) -> OrderLineQuerySet:
        """Annotate the quantity held by cancellations still in flight (one query, no N+1)."""
        return self.annotate(
            in_flight_quantity=Coalesce(
                Sum("cancellations__quantity", filter=Q(cancellations__status__in=IN_FLIGHT_STATUSES)), 0
            )
        )


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    external_id = models.CharField(max_length=100, help_text="The marketplace's order line id")
    sku = models.CharField(max_length=100, db_index=True)
    title = models.CharField(max_length=300, blank=True)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    price = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"), help_text="Line price")
    shipping_price = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    taxes = models.JSONField(default=list, blank=True, help_text="[{code, amount, rate, rule}]")
    shipping_taxes = models.JSONField(default=list, blank=True)
    fees = models.JSONField(default=list, blank=True, help_text="[{code, amount}]: the line's fees (all units)")
    status = models.CharField(max_length=50, blank=True, help_text="As the marketplace reports it.")
    cancelled_quantity = models.PositiveIntegerField(default=0, help_text="Confirmed cancelled units.")
    open_quantity = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Units the marketplace still lets the seller cancel, where it tracks status per unit.",
    )
    # Amounts already cancelled on the marketplace (confirmed), so the next cancel never exceeds the rest.
    cancelled_amount = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    cancelled_shipping_amount = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    cancelled_taxes = models.JSONField(default=dict, blank=True, help_text="{tax code: amount cancelled}")
    cancelled_shipping_taxes = models.JSONField(default=dict, blank=True)
    cancelled_fees = models.JSONField(default=dict, blank=True, help_text="{fee code: amount cancelled}")
    marketplace_cancellations = models.JSONField(
        default=list, blank=True, help_text="Cancellations the marketplace reports on this line (with their ids)."
    )
    raw = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    objects = OrderLineQuerySet.as_manager()

    class Meta:
        ordering = ["order_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "external_id"], name="line_unique_per_order"),
            models.CheckConstraint(
                condition=Q(cancelled_quantity__lte=models.F("quantity")), name="line_cancelled_not_above_qty"
            ),
        ]
        permissions = [("request_cancellation", "Can request cancellations on the marketplace")]

    def __str__(self) -> str:
        return f"{self.order.external_id} line {self.external_id} ({self.sku})"

    @property
    def in_flight(self) -> int:
        cached = getattr(self, "in_flight_quantity", None)
        if cached is not None:
            return cached
        return (
            self.cancellations.filter(status__in=IN_FLIGHT_STATUSES).aggregate(n=Sum("quantity"))["n"] or 0
        )

    @property
    def status_allows_cancel(self) -> bool:
        """The one status rule (API, admin, CLI, validation): the marketplace's spec maps the line's status to an
        operation (cancel or refuse); where it tracks status per unit, open units decide."""
        spec = spec_for(self.order.account.marketplace)
        return spec.operation_for(self.status) is not None or bool(spec.units_per_status and self.open_quantity)

    @property
    def cancellable_quantity(self) -> int:
        """Units that may still be cancelled: not cancelled, not shipped (where known per unit), not in flight,
        and none at all when the line's status allows no cancel (shipped, received, closed, refused...)."""
        if not self.status_allows_cancel:
            return 0
        left = self.quantity - self.cancelled_quantity
        if self.open_quantity is not None:
            left = min(left, self.open_quantity)
        return max(left - self.in_flight, 0)


class CancellationReason(models.TextChoices):
    """The normalised vocabulary; each account maps it to its marketplace's own codes."""

    CUSTOMER_REQUEST = "customer_request", "Customer request"
    OUT_OF_STOCK = "out_of_stock", "Out of stock"
    PRICING_ERROR = "pricing_error", "Pricing error"
    FRAUD_SUSPICION = "fraud_suspicion", "Fraud suspicion"
    CANNOT_SHIP = "cannot_ship", "Cannot ship to address"
    OTHER = "other", "Other"


class MarketplaceReason(models.Model):
    """A reason code the marketplace accepts for this account (documented in its spec, or listed by it)."""

    account = models.ForeignKey(MarketplaceAccount, on_delete=models.CASCADE, related_name="reasons")
    code = models.CharField(max_length=100)
    label = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    normalised = models.CharField(
        max_length=30, choices=CancellationReason.choices, blank=True,
        help_text="The normalised reason this code stands for (used when a request names a normalised reason).",
    )
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["account_id", "code"]
        constraints = [models.UniqueConstraint(fields=["account", "code"], name="reason_unique_per_account")]

    def __str__(self) -> str:
        return f"{self.code} ({self.label})" if self.label else self.code


class CancellationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    RETRY_SCHEDULED = "retry_scheduled", "Retry scheduled"
    VERIFYING = "verifying", "Verifying"
    CONFIRMED = "confirmed", "Confirmed"
    REJECTED = "rejected", "Rejected"
    FAILED = "failed", "Failed"
    #: The marketplace's state cannot tell whether our cancel applied: a person settles it; never resent on its own.
    NEEDS_ATTENTION = "needs_attention", "Needs attention"


TERMINAL_STATUSES = (CancellationStatus.CONFIRMED, CancellationStatus.REJECTED, CancellationStatus.FAILED,
                     CancellationStatus.NEEDS_ATTENTION)


class Source(models.TextChoices):
    ADMIN = "admin", "Admin"
    API = "api", "API"
    CLI = "cli", "Command line"
    SYSTEM = "system", "System"
    #: Found by order sync: cancelled on the marketplace outside this product (drift).
    MARKETPLACE = "marketplace", "Marketplace"


class Cancellation(models.Model):
    line = models.ForeignKey(OrderLine, on_delete=models.PROTECT, related_name="cancellations")
    account = models.ForeignKey(MarketplaceAccount, on_delete=models.PROTECT, related_name="cancellations")
    quantity = models.PositiveIntegerField()
    reason_code = models.CharField(max_length=100, help_text="The code sent to the marketplace.")
    reason = models.CharField(max_length=30, choices=CancellationReason.choices, blank=True)
    note = models.TextField(blank=True)
    # Amounts sent, where the marketplace's cancel carries amounts; zero where it takes quantities only.
    amount = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    shipping_amount = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    taxes = models.JSONField(default=list, blank=True, help_text="[{code, amount}] sent")
    shipping_taxes = models.JSONField(default=list, blank=True)
    fees = models.JSONField(default=list, blank=True, help_text="[{code, amount}] sent")
    currency = models.CharField(max_length=3, blank=True)
    accept_other_lines = models.BooleanField(
        default=False, help_text="A refusal that accepts the order's other waiting lines in the same call.",
    )
    status = models.CharField(
        max_length=20, choices=CancellationStatus.choices, default=CancellationStatus.PENDING, db_index=True
    )
    marketplace_reference = models.CharField(max_length=100, blank=True, help_text="The marketplace's cancellation id")
    error_code = models.CharField(max_length=200, blank=True)
    error_message = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    baseline_cancelled_quantity = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Units of the line cancelled on the marketplace when this was sent (to verify unknown outcomes).",
    )
    baseline_references = models.JSONField(
        default=list, blank=True,
        help_text="Ids of the line's marketplace cancellations already there when this was sent.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    restock = models.BooleanField(default=True, help_text="Whether the cancelled units go back to stock.")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=20, choices=Source.choices)
    request_id = models.UUIDField(default=uuid.uuid4, db_index=True, help_text="Groups one user request.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="cancellation_due_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="cancellation_quantity_positive"),
            # One request cancels a line once: a double submit cannot add a second row for it.
            models.UniqueConstraint(fields=["request_id", "line"], name="cancellation_once_per_request_line"),
        ]

    def __str__(self) -> str:
        """In the marketplace's ids: "Cancel 2 of line 1 on 5801000000022" (no database ids)."""
        return f"Cancel {self.quantity} of line {self.line.external_id} on {self.line.order.external_id}"


class CancellationEvent(models.Model):
    """History: one row per status change of a cancellation (who, when, from, to, why)."""

    cancellation = models.ForeignKey(Cancellation, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.SYSTEM)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status}"


class IdempotencyRecord(models.Model):
    """The first answer to an API request made with an ``Idempotency-Key`` header, per user."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_unique_per_user")]

    def __str__(self) -> str:
        return self.key


class CallState(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    DONE = "done", "Answered"
    ERROR = "error", "Error"


class MarketplaceCall(models.Model):
    """One HTTP exchange with a marketplace, secrets masked. Cancel calls double as the outbox."""

    account = models.ForeignKey(MarketplaceAccount, on_delete=models.PROTECT, related_name="calls")
    operation = models.CharField(max_length=30, db_index=True)  # cancel, get_order, list_orders, reasons, token
    state = models.CharField(max_length=10, choices=CallState.choices, default=CallState.DONE, db_index=True)
    batch_key = models.CharField(max_length=200, blank=True, help_text="The backend's batch key.")
    method = models.CharField(max_length=10, blank=True)
    url = models.TextField(blank=True)
    request_headers = models.JSONField(default=dict, blank=True)
    request_body = models.TextField(blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    response_body = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    correlation_id = models.CharField(max_length=100, blank=True, db_index=True)
    error = models.TextField(blank=True)
    cancellations = models.ManyToManyField(Cancellation, related_name="calls", blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    dispatch_expected_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When the dispatch task last published for this queued call should run (the sweep re-publishes "
                  "only long after: a lost message, not a long queue).")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "claimed_at"], name="call_state_idx")]
        # Bodies and headers hold customer names, addresses and phone numbers: shown only with this permission.
        permissions = [("view_call_bodies", "Can see marketplace call bodies (customer data)")]

    def __str__(self) -> str:
        return f"{self.operation} {self.method} {self.status_code or ''}".strip()


class InventoryAdjustment(models.Model):
    """Units to report in the next inventory feed after a confirmed cancellation (marketplaces ask for it)."""

    account = models.ForeignKey(MarketplaceAccount, on_delete=models.PROTECT, related_name="inventory_adjustments")
    cancellation = models.OneToOneField(Cancellation, on_delete=models.CASCADE, related_name="inventory_adjustment")
    sku = models.CharField(max_length=100, db_index=True)
    quantity = models.PositiveIntegerField()
    restock = models.BooleanField(help_text="Put the units back in stock (not for out-of-stock reasons).")
    exported_at = models.DateTimeField(null=True, blank=True, help_text="Empty while pending.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        sign = "+" if self.restock else "±0"
        return f"{self.sku} {sign}{self.quantity}"


# Events, webhooks and alerts live in their own module; imported here so Django registers them.
from .integration_models import (  # noqa: E402, F401
    AlertNotice,
    DeliveryState,
    Event,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)


class AttentionNote(models.Model):
    """Who took a cancellation that needs attention, and their note (the dashboard's queue)."""

    cancellation = models.OneToOneField(Cancellation, on_delete=models.CASCADE, related_name="attention_note")
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True, max_length=2000)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Note on cancellation {self.cancellation_id}"
