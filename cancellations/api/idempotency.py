"""``Idempotency-Key`` for the cancellation endpoints: one key, one outcome, whatever the retries.

How it stays safe when requests race or a process dies half-way:

1. The key is *reserved* first by inserting its record in a pending state; the unique (user, key)
   constraint lets exactly one request win, the others read the winner's record (``IntegrityError``).
2. The winner calls the service with a ``request_id`` derived from (user, key). The service is idempotent
   per ``request_id``, so running it again for the same key never creates a second set of cancellations.
3. The record is completed with the response. A 400 (nothing was created) releases the key instead.

A crash between 2 and 3 leaves a pending record: once it is older than ``STALE_AFTER`` the next request with
the key takes it over (a compare-and-set on ``created_at``, so only one does) and re-runs step 2, which
returns the cancellations already recorded. A crash inside 2 rolls the service's transaction back.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
PENDING = 0  # response_status of a reserved key whose request has not finished
STALE_AFTER = timedelta(minutes=5)  # a pending key older than this belongs to a request that died
_NAMESPACE = uuid.UUID("6f1c8a52-3b7e-4d0e-9a51-2c4f7e8d9b10")


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any


class IdempotencyConflict(Exception):
    """The key was used for a different request, or its first request is still running (409)."""


def request_fingerprint(method: str, path: str, data: Any) -> str:
    """sha256 of the method, path and canonical JSON body."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def request_id_for(user, key: str) -> uuid.UUID:
    """The cancellations' request_id for this user's key (stable, so a re-run finds the first result)."""
    return uuid.uuid5(_NAMESPACE, f"{user.pk}:{key}")


def idempotency_begin(*, user, key: str, fingerprint: str) -> StoredResponse | None:
    """Reserve ``key`` for this request (None: go ahead), or return the stored response to replay.

    Raises ``IdempotencyConflict`` when the key belongs to another request or its request is in progress.
    """
    for _ in range(3):  # a key released between our insert and our read is simply tried again
        try:
            with transaction.atomic():
                IdempotencyRecord.objects.create(user=user, key=key, request_hash=fingerprint,
                                                 response_status=PENDING, response_body={})
            return None
        except IntegrityError:
            pass
        record = IdempotencyRecord.objects.filter(user=user, key=key).first()
        if record is None:
            continue
        if record.request_hash != fingerprint:
            raise IdempotencyConflict(f"This {HEADER} was already used with a different request.")
        if record.response_status != PENDING:
            return StoredResponse(status=record.response_status, body=record.response_body)
        if record.created_at > timezone.now() - STALE_AFTER or not _take_over(record):
            break
        return None
    raise IdempotencyConflict(f"A request with this {HEADER} is still being processed; retry later.")


def _take_over(record: IdempotencyRecord) -> bool:
    """Claim a pending record abandoned by a dead request; only one of several callers succeeds."""
    return bool(IdempotencyRecord.objects.filter(
        pk=record.pk, response_status=PENDING, created_at=record.created_at,
    ).update(created_at=timezone.now()))


def idempotency_finish(*, user, key: str, fingerprint: str, status: int, body: Any) -> None:
    """Store the response so later requests with the key replay it."""
    body = json.loads(json.dumps(body, cls=DjangoJSONEncoder))
    _pending(user, key, fingerprint).update(response_status=status, response_body=body)


def idempotency_release(*, user, key: str, fingerprint: str) -> None:
    """Forget a reservation whose request created nothing (a 400 or an error): the key may be used again."""
    _pending(user, key, fingerprint).delete()


def _pending(user, key: str, fingerprint: str):
    return IdempotencyRecord.objects.filter(user=user, key=key, request_hash=fingerprint,
                                            response_status=PENDING)
