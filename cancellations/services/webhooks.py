"""Webhook endpoints and the delivery of events to them: signed POSTs, retried with backoff for days.

Deliveries are rows written with their event (``events.events_record``); a Celery task sends one after the
change commits (with a broker), and a sweep sends whatever is due, so a dead worker loses nothing. Sending
never happens inside the change's transaction or worker: the task runs on its own queue, and in the embedded
default only the sweep sends (``deliver_webhooks --loop`` or the demo's delivery thread).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import secrets
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework.fields import DateTimeField

from ..models import AlertNotice, DeliveryState, Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from ..netguard import LOOPBACK_NAMES, address_forbidden, guarded_session, is_destination_refused
from ..webhook_signature import HEADER as SIGNATURE_HEADER
from ..webhook_signature import signature_header
from .locking import skip_locked

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
USER_AGENT = "Backoffice-Webhooks/1.0"
DUE_BATCH = 200


# ------------------------------------------------------------------------------------------ endpoints


def _loopback(host: str) -> bool:
    if any(fnmatchcase(host, name) for name in LOOPBACK_NAMES):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _forbidden_address(host: str) -> bool:
    """An IP literal that is not on the public internet (names are checked when connecting: netguard)."""
    try:
        return address_forbidden(host)
    except ValueError:
        return False


def webhook_url_problem(url: str) -> str | None:
    """Why ``url`` may not receive webhooks, or None. The marketplace URL rules (``netguard``): https, no user
    info, no loopback or private address; a loopback host, also over plain http, only while the sandbox is on."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "Not a valid URL."
    host = (parts.hostname or "").lower()
    if not host or parts.scheme not in ("http", "https"):
        return "Must be an https URL."
    if "@" in parts.netloc:
        return "Must not carry a user name or password."
    local = settings.SANDBOX_ENABLED and _loopback(host)
    if not local and (_loopback(host) or _forbidden_address(host)):
        return "Private and loopback addresses are not allowed."
    if parts.scheme == "http" and not local:
        return "Must be an https URL (plain http only for a loopback host while the sandbox is on)."
    return None


def webhook_events_problem(events: object) -> str | None:
    from .events import EVENT_TYPES

    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        return "Give a non-empty list of event types."
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        return f"Unknown event type(s): {', '.join(unknown)}. Use: {', '.join(EVENT_TYPES)}."
    return None


def webhook_secret_new() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def webhook_endpoint_create(*, url: str, events: list[str], description: str = "",
                            enabled: bool = True) -> WebhookEndpoint:
    """A new endpoint with a fresh signing secret (``endpoint.signing_secret``: show it once)."""
    return WebhookEndpoint.objects.create(url=url, events=sorted(set(events)), description=description,
                                          enabled=enabled, secret={"secret": webhook_secret_new()})


# ------------------------------------------------------------------------------------------ payloads


def event_payload(event: Event) -> dict:
    """The event as receivers and the events feed see it."""
    return {"id": event.public_id, "type": event.type, "created": DateTimeField().to_representation(event.created_at),
            "data": event.data}


def event_body(event: Event) -> bytes:
    return json.dumps(event_payload(event), separators=(",", ":"), ensure_ascii=False).encode()


# ------------------------------------------------------------------------------------------ delivery


def retry_delay(attempts: int) -> float:
    """First retry after ``WEBHOOK_RETRY_BASE_SECONDS``, doubling after each failed attempt."""
    return settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)


def _claim(match: Q, now: datetime, limit: int) -> dict[int, list[WebhookDelivery]]:
    """Take due deliveries under row locks and lease them, grouped by endpoint, so one sweep or task sends each.

    The lease outlasts sending the whole group at the worst timeouts, so no other sweep takes them meanwhile.
    """
    per_post = sum(settings.WEBHOOK_HTTP_TIMEOUT)
    groups: dict[int, list[WebhookDelivery]] = defaultdict(list)
    with transaction.atomic():
        rows = (WebhookDelivery.objects.select_for_update(of=("self",), **skip_locked())
                .select_related("endpoint", "event")
                .filter(match, state=DeliveryState.PENDING, next_attempt_at__lte=now, endpoint__enabled=True)
                .exclude(sending_until__gt=now)
                .order_by("next_attempt_at", "pk")[:limit])
        for delivery in rows:
            groups[delivery.endpoint_id].append(delivery)
        for group in groups.values():
            lease = now + timedelta(seconds=len(group) * per_post + 60)
            WebhookDelivery.objects.filter(pk__in=[d.pk for d in group]).update(next_attempt_at=lease,
                                                                               sending_until=lease)
    return groups


def _post(session: requests.Session, endpoint: WebhookEndpoint, body: bytes) -> tuple[int | None, str]:
    """POST the body once; (status code, error). Redirects are not followed."""
    problem = webhook_url_problem(endpoint.url)
    if problem:
        return None, f"URL refused: {problem}"
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               SIGNATURE_HEADER: signature_header(endpoint.signing_secret, body)}
    try:
        # stream=True: only the status matters; a receiver's body, however large, is never read.
        response = session.post(endpoint.url, data=body, headers=headers, allow_redirects=False, stream=True,
                                timeout=settings.WEBHOOK_HTTP_TIMEOUT)
        response.close()
    except requests.RequestException as exc:
        if is_destination_refused(exc):
            return None, "Refused: the URL resolves to a private or loopback address."
        query = urlsplit(endpoint.url).query  # may carry the receiver's own token: never logged
        text = str(exc).replace(query, "***") if query else str(exc)
        return None, f"{type(exc).__name__}: {text[:500]}"
    error = "" if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
    return response.status_code, error


_SQLITE_WRITER = threading.Lock()


def _db_turn():
    """SQLite has one writer at a time: sweep threads take turns at writing (POSTs still overlap)."""
    return _SQLITE_WRITER if connection.vendor == "sqlite" else nullcontext()


def _endpoint_send(deliveries: list[WebhookDelivery]) -> Counter:
    """Send one endpoint's deliveries in order over one connection. After a failure the rest wait for the
    next sweep (a down endpoint costs one timeout per sweep, not one per event)."""
    outcomes: Counter = Counter()
    # The connect-time guard refuses non-public addresses whatever the name resolves to (DNS rebinding).
    with guarded_session() as session:
        for i, delivery in enumerate(deliveries):
            started = time.monotonic()
            status_code, error = _post(session, delivery.endpoint, event_body(delivery.event))
            duration_ms = int((time.monotonic() - started) * 1000)
            with _db_turn():
                outcome = _attempt_record(delivery, status_code=status_code, error=error, duration_ms=duration_ms)
            outcomes[outcome] += 1
            rest = deliveries[i + 1:]
            if outcome != "delivered" and rest:
                with _db_turn():
                    WebhookDelivery.objects.filter(pk__in=[d.pk for d in rest]).update(
                        next_attempt_at=timezone.now(), sending_until=None)
                outcomes["held_back"] += len(rest)
                break
    return outcomes


def webhook_delivery_send(*, delivery_id: int) -> str:
    """Send one due delivery (the task); 'skipped' when it is not due or another sender has it."""
    groups = _claim(Q(pk=delivery_id), timezone.now(), 1)
    if not groups:
        return "skipped"
    return next(iter(_endpoint_send(next(iter(groups.values())))))


@transaction.atomic
def _attempt_record(delivery: WebhookDelivery, *, status_code: int | None, error: str, duration_ms: int) -> str:
    now = timezone.now()
    if not WebhookDelivery.objects.select_for_update().filter(pk=delivery.pk).exists():
        return "dropped"  # its endpoint was deleted while the POST was out: nothing left to record
    WebhookAttempt.objects.create(delivery=delivery, status_code=status_code, error=error,
                                  duration_ms=duration_ms)
    delivery.attempts += 1
    delivery.last_status_code, delivery.last_error, delivery.sending_until = status_code, error, None
    endpoint = delivery.endpoint
    if not error:
        delivery.state, delivery.delivered_at = DeliveryState.DELIVERED, now
        outcome = "delivered"
        if endpoint.failing_since:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
    else:
        next_at = now + timedelta(seconds=retry_delay(delivery.attempts))
        if next_at - delivery.window_started_at > timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_SECONDS):
            delivery.state = DeliveryState.FAILED
            outcome = "failed"
            WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
            log.warning("Webhook delivery %s to endpoint %s gave up: %s", delivery.pk, endpoint.pk, error)
        else:
            delivery.next_attempt_at = next_at
            outcome = "retry"
    delivery.save(update_fields=["attempts", "last_status_code", "last_error", "state", "delivered_at",
                                 "next_attempt_at", "sending_until"])
    return outcome


def webhooks_deliver_due(*, limit: int = DUE_BATCH) -> dict[str, int]:
    """The sweep: send due deliveries of enabled endpoints, oldest first; endpoints side by side on up to
    ``WEBHOOK_SWEEP_THREADS`` threads, so a slow one holds up only its own deliveries."""
    groups = list(_claim(Q(), timezone.now(), limit).values())
    threads = min(settings.WEBHOOK_SWEEP_THREADS, len(groups))
    report: Counter = Counter()
    if threads <= 1:
        for group in groups:
            report += _endpoint_send(group)
        return dict(report)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="webhooks") as pool:
        for outcomes in pool.map(_endpoint_send_in_thread, groups):
            report += outcomes
    return dict(report)


def _endpoint_send_in_thread(deliveries: list[WebhookDelivery]) -> Counter:
    try:
        return _endpoint_send(deliveries)
    finally:
        connection.close()  # this thread's own connection


def deliveries_redeliver(deliveries: Sequence[WebhookDelivery]) -> int:
    """Delivered, failed or waiting ones: send them again at the next sweep, with a fresh retry window.

    One being sent right now is left alone: due again at once, a second sender would post it a second time.
    """
    now = timezone.now()
    return WebhookDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).filter(
        Q(state__in=[DeliveryState.DELIVERED, DeliveryState.FAILED]) | Q(next_attempt_at__gt=now)
    ).exclude(sending_until__gt=now).update(state=DeliveryState.PENDING, next_attempt_at=now,
                                            window_started_at=now, delivered_at=None)


def events_prune(*, now: datetime | None = None) -> int:
    """Drop events (with their deliveries) and mailed alert notices older than ``EVENT_RETENTION_DAYS``."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.EVENT_RETENTION_DAYS)
    AlertNotice.objects.filter(sent_at__lt=cutoff).delete()
    deleted = Event.objects.filter(created_at__lt=cutoff).delete()[1].get(Event._meta.label, 0)
    return deleted
