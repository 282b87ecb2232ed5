"""What the back-office tells the seller's other systems: events, webhook endpoints and deliveries, alerts.

An ``Event`` is written in the same transaction as the change it reports, together with one
``WebhookDelivery`` per subscribed endpoint (an outbox: a sweep delivers whatever is due, so a dead worker
loses nothing). Deliveries never run inside the change's transaction or the worker that made it.
"""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from .fields import EncryptedJSONField

EVENT_ID_PREFIX = "evt_"


class Event(models.Model):
    """One meaningful change, with the object as the API showed it at that moment."""

    type = models.CharField(max_length=60, db_index=True)
    data = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.public_id} {self.type}"

    @property
    def public_id(self) -> str:
        return event_public_id(self.pk)


def event_public_id(pk: int) -> str:
    """``evt_`` and the sequence number, zero-padded so ids sort as they were written."""
    return f"{EVENT_ID_PREFIX}{pk:012d}"


def event_pk(public_id: str) -> int | None:
    """The sequence number in an ``evt_…`` id, or None when it is not one of ours."""
    digits = public_id[len(EVENT_ID_PREFIX):] if public_id.startswith(EVENT_ID_PREFIX) else ""
    return int(digits) if digits.isdigit() and len(digits) <= 18 else None


class WebhookEndpoint(models.Model):
    """A URL of the seller's that receives the chosen event types, signed with its own secret."""

    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list, help_text="Event types sent to this URL.")
    description = models.CharField(max_length=200, blank=True)
    enabled = models.BooleanField(default=True)
    secret = EncryptedJSONField(default=dict, help_text="{'secret': 'whsec_…'}; shown once, at creation.")
    failing_since = models.DateTimeField(
        null=True, blank=True, help_text="Set when a delivery gave up after its retry window; a success clears it."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        permissions = [("manage_webhooks", "Can see and manage webhook endpoints")]

    def __str__(self) -> str:
        return self.url

    @property
    def signing_secret(self) -> str:
        return (self.secret or {}).get("secret", "")


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (gave up)"


class WebhookDelivery(models.Model):
    """One event owed to one endpoint; retried with backoff until delivered or its window closes."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(help_text="When a sweep may send it (also a lease while sending).")
    sending_until = models.DateTimeField(
        null=True, blank=True, help_text="Set while a sender has it out: neither claimed nor redelivered until then.")
    window_started_at = models.DateTimeField(help_text="Retries stop this long after: creation or redelivery.")
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="webhook_delivery_due_idx")]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_delivery_once_per_endpoint"),
        ]

    def __str__(self) -> str:
        return f"{event_public_id(self.event_id)} → endpoint {self.endpoint_id} ({self.state})"


class WebhookAttempt(models.Model):
    """One POST of a delivery: what came back and how long it took (never the secret)."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField()
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.status_code or self.error[:40]} in {self.duration_ms} ms"


class AlertNotice(models.Model):
    """Something a person must hear about, waiting for the next digest email."""

    kind = models.CharField(max_length=40)
    subject = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.subject
