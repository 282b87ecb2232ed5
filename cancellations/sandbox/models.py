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
    Walmart OAuth: ``identifier`` = client id, ``secret_sha256`` = digest of the client secret.
    Mirakl: ``identifier`` = a label, ``secret_sha256`` = digest of the API key, ``shop_id`` optional.
    """

    MARKETPLACES = [("walmart_ca", "Walmart Canada"), ("mirakl", "Mirakl")]

    marketplace = models.CharField(max_length=20, choices=MARKETPLACES)
    identifier = models.CharField(max_length=200)
    public_key_pem = models.TextField(blank=True)
    secret_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    shop_id = models.CharField(max_length=50, blank=True)

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
    SERVER_ERROR = "server_error", "500 Internal Server Error"
    SLOW = "slow", "Slow response past the client timeout (not applied)"
    SLOW_AFTER_APPLY = "slow_after_apply", "Apply, then answer too late (client times out)"
    REJECT_LINE = "reject_line", "Business rejection of one line"
    UNAUTHORIZED = "unauthorized", "401 Unauthorized"


class SandboxFault(models.Model):
    """A failure the sandbox injects into the next ``remaining`` matching requests.

    ``params``: rate_limit {"retry_after": seconds}; slow/slow_after_apply {"delay": seconds};
    reject_line {"line_id": "...", "code": "...", "message": "..."}.
    """

    seller = models.ForeignKey(
        SandboxSeller, null=True, blank=True, on_delete=models.CASCADE, related_name="faults",
        help_text="Empty: applies to every seller of the marketplace.",
    )
    marketplace = models.CharField(max_length=20, choices=SandboxSeller.MARKETPLACES)
    operation = models.CharField(max_length=30, help_text="cancel, get_order, list_orders, reasons or token")
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
