"""The sandbox's own state: sellers it knows, their orders, faults to inject, and the requests it got.

It lives in the database so that every process (the web server serving the sandbox, Celery workers, the
tests' live server thread) sees one consistent marketplace.
"""

from __future__ import annotations

import hashlib

from django.db import models


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class SandboxSeller(models.Model):
    """A seller the emulated marketplace knows.

    Walmart signature mode: ``identifier`` = consumer id, ``public_key_pem`` verifies signatures.
    Walmart OAuth (CA or US): ``identifier`` = client id, ``secret_sha256`` = digest of the client secret.
    Mirakl: ``identifier`` = a label, ``secret_sha256`` = digest of the API key, ``shop_id`` optional.

    ``options`` are this seller's knobs (see ``endpoint``): ``latency_ms``, ``rate_limit_per_second``,
    ``chaos`` (seeded random faults); Mirakl also ``partial_cancelation`` (false: OR30 refused) and
    ``partial_acceptance`` (false: OR21 must accept or refuse every waiting line alike).
    """

    # No choices: the marketplace key is the registry's (a new marketplace needs no sandbox migration).
    marketplace = models.CharField(max_length=20)
    identifier = models.CharField(max_length=200)
    public_key_pem = models.TextField(blank=True)
    secret_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    shop_id = models.CharField(max_length=50, blank=True)
    options = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["marketplace", "identifier"], name="sandbox_seller_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.marketplace}:{self.identifier}"


class SandboxOrder(models.Model):
    """An order held by the emulated marketplace. ``data`` is that marketplace module's own JSON shape."""

    seller = models.ForeignKey(SandboxSeller, on_delete=models.CASCADE, related_name="orders")
    external_id = models.CharField(max_length=100)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["seller", "external_id"], name="sandbox_order_unique"),
        ]

    def __str__(self) -> str:
        return self.external_id


class SandboxToken(models.Model):
    """An OAuth access token the emulated Walmart Global API issued."""

    seller = models.ForeignKey(SandboxSeller, on_delete=models.CASCADE, related_name="tokens")
    token_sha256 = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"token for {self.seller}"


class FaultKind(models.TextChoices):
    RATE_LIMIT = "rate_limit", "429 with Retry-After"
    SERVER_ERROR = "server_error", "500 Internal Server Error (not applied)"
    SLOW = "slow", "Slow response past the client timeout (not applied)"
    SLOW_BEFORE_APPLY = "slow_before_apply", "Wait, then apply and answer (client may have given up)"
    SLOW_AFTER_APPLY = "slow_after_apply", "Apply, then answer too late (client times out)"
    DROP_AFTER_APPLY = "drop_after_apply", "Apply, then close the connection without an answer"
    REJECT_LINE = "reject_line", "Business rejection of one line"
    FOREIGN_CANCEL = "foreign_cancel", "Someone else cancels a unit of the line first, then the request goes on"
    UNAUTHORIZED = "unauthorized", "401 Unauthorized"


class SandboxFault(models.Model):
    """A failure the sandbox injects into the next ``remaining`` matching requests.

    ``params``: rate_limit {"retry_after": seconds}; slow, slow_before_apply, slow_after_apply
    {"delay": seconds}; reject_line {"line_id": "...", "code": "...", "message": "..."}; foreign_cancel
    {"line_id": "...", "quantity": units, "reason": "..."} (default: one unit of the first requested line).
    """

    seller = models.ForeignKey(
        SandboxSeller, null=True, blank=True, on_delete=models.CASCADE, related_name="faults",
        help_text="Empty: applies to every seller of the marketplace.",
    )
    marketplace = models.CharField(max_length=20)
    operation = models.CharField(
        max_length=30, help_text="cancel, refuse (Mirakl OR21), cancel_order (Mirakl OR29), get_order, list_orders, "
        "reasons or token",
    )
    kind = models.CharField(max_length=20, choices=FaultKind.choices)
    params = models.JSONField(default=dict, blank=True)
    remaining = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.kind} on {self.marketplace} {self.operation} (x{self.remaining})"


class SandboxRequest(models.Model):
    """Every request the sandbox received (lets tests and the demo count real marketplace calls)."""

    request_id = models.CharField(max_length=32, blank=True, db_index=True)
    marketplace = models.CharField(max_length=20)
    seller = models.ForeignKey(SandboxSeller, null=True, blank=True, on_delete=models.SET_NULL)
    operation = models.CharField(max_length=30)
    method = models.CharField(max_length=10)
    path = models.TextField()
    status_code = models.PositiveSmallIntegerField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status_code}"


class SandboxCancel(models.Model):
    """Units the emulated marketplace cancelled (or refused), written in the same transaction as the change.

    The sandbox's own record, independent of what any client believes: ``request_id`` names the request that
    applied them (``SandboxRequest.request_id``); ``source`` is ``request`` for an API call, ``foreign`` for a
    cancel made by someone else (the ``foreign_cancel`` fault or ``faults.foreign_cancel``). A test asserts
    from it that no unit was cancelled twice and that every confirmed cancellation was really applied.
    """

    REQUEST, FOREIGN = "request", "foreign"

    seller = models.ForeignKey(SandboxSeller, on_delete=models.CASCADE, related_name="cancels")
    order_id = models.CharField(max_length=100)
    line_id = models.CharField(max_length=100)
    quantity = models.PositiveIntegerField()
    reason_code = models.CharField(max_length=100, blank=True)
    operation = models.CharField(max_length=30)
    source = models.CharField(max_length=10, default=REQUEST)
    request_id = models.CharField(max_length=32, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["seller", "order_id", "line_id"], name="sandbox_cancel_line")]

    def __str__(self) -> str:
        return f"{self.source} {self.operation} {self.order_id}/{self.line_id} x{self.quantity}"
