"""Who asked: request ids the server issues, so no client can choose (or reuse) another request's identity.

The admin's confirmation page carries a token signed by the server, bound to the user and to the lines the page
shows; the cancellations' ``request_id`` is derived from it in the admin's own namespace. The API derives its
``request_id`` from (user, ``Idempotency-Key``) in another namespace, so the two can never meet.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.core import signing

ADMIN_NAMESPACE = uuid.UUID("3d0f4b7e-9a1c-4e55-8b6a-5f2d7c1e9a40")
_SALT = "cancellations.admin.confirm-request"
MAX_AGE_SECONDS = 24 * 3600


class RequestTokenError(ValueError):
    """The token was not issued by us, for this user and these lines, or has expired."""


def admin_request_token_issue(*, user, line_ids: Iterable[int]) -> str:
    """A new request of ``user`` on ``line_ids``: a signed token for the confirmation form."""
    return signing.dumps({"r": uuid.uuid4().hex, "u": user.pk, "l": sorted(set(line_ids))}, salt=_SALT,
                         compress=True)


def admin_request_id(*, token: str, user, line_ids: Iterable[int]) -> uuid.UUID:
    """The cancellations' request_id for a token issued to ``user`` for exactly ``line_ids``."""
    try:
        data = signing.loads(token, salt=_SALT, max_age=MAX_AGE_SECONDS)
    except signing.SignatureExpired:
        raise RequestTokenError("This confirmation page has expired; open it again.") from None
    except signing.BadSignature:
        raise RequestTokenError("This confirmation page was not issued for this request.") from None
    if not isinstance(data, dict) or data.get("u") != user.pk or data.get("l") != sorted(set(line_ids)):
        raise RequestTokenError("This confirmation page was issued for another user or other lines.")
    return uuid.uuid5(ADMIN_NAMESPACE, f"{user.pk}:{data['r']}")
