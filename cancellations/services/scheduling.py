"""When a cancellation is tried again: backoff for retries, a grace period before reading back."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from ..models import Cancellation, CancellationStatus
from .enqueue import verification_enqueue_on_commit
from .history import cancellations_transition


def retry_delay(attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter, never sooner than the marketplace's Retry-After."""
    base = settings.CANCELLATION_RETRY_BASE_SECONDS * (2 ** max(attempts - 1, 0))
    delay = random.uniform(base / 2, base)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, settings.CANCELLATION_RETRY_MAX_SECONDS)


def retries_schedule(cancellations: Sequence[Cancellation], *, code: str, message: str,
                     retry_after: float | None = None, now: datetime | None = None) -> None:
    """Known not applied: try again later with backoff, or give up after the maximum number of attempts."""
    now = now or timezone.now()
    spent = [c for c in cancellations if c.attempts >= settings.CANCELLATION_MAX_ATTEMPTS]
    again = [c for c in cancellations if c.attempts < settings.CANCELLATION_MAX_ATTEMPTS]
    cancellations_transition(spent, CancellationStatus.FAILED, error_code=code, error_message=message[:2000],
                             message=f"Gave up after the maximum number of attempts: {message[:500]}")
    cancellations_transition(
        again, CancellationStatus.RETRY_SCHEDULED, error_code=code, error_message=message[:2000],
        next_attempt_at=lambda c: now + timedelta(seconds=retry_delay(c.attempts, retry_after)),
        message=f"Will try again ({message[:300]})",
    )


def verifications_schedule(cancellations: Sequence[Cancellation], *, code: str, message: str) -> None:
    """Outcome unknown: read the order back once the marketplace has had time to finish what it got."""
    delay = settings.CANCELLATION_VERIFY_DELAY_SECONDS
    cancellations_transition(
        cancellations, CancellationStatus.VERIFYING, error_code=code, error_message=message[:2000],
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
        message=f"Outcome unknown ({message[:300]}); reading the order back",
    )
    verification_enqueue_on_commit([c.pk for c in cancellations], delay=delay)
