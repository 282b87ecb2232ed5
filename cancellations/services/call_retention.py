"""Personal data retention: call bodies and headers (customer names, addresses, phones) are blanked after N days.

The call's metadata (operation, method, URL, status, duration, correlation id, error) stays for the audit trail.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ..models import CallState, MarketplaceCall

#: request_headers and response_headers are blanked too: they can echo customer data back (and are not needed
#: once the exchange is settled).
BLANK = {"request_body": "", "response_body": "", "request_headers": {}, "response_headers": {}}


def call_bodies_blank(*, older_than_days: int | None = None) -> int:
    """Blank the bodies of settled calls created more than ``older_than_days`` ago; the count blanked."""
    days = settings.CALL_BODY_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    has_bodies = ~Q(request_body="") | ~Q(response_body="") | ~Q(request_headers={}) | ~Q(response_headers={})
    return (MarketplaceCall.objects.filter(has_bodies, created_at__lt=cutoff)
            .exclude(state__in=[CallState.QUEUED, CallState.SENDING]).update(**BLANK))
