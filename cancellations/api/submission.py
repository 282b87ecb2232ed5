"""A POSTed cancellation request turned into a ``cancellation_request`` call, once per Idempotency-Key."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.db.models import Prefetch
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer

from ..models import MarketplaceCall, Source
from ..selectors import cancellation_list
from ..services import CancellationRequestError, LineError, LineRequest, cancellation_request
from . import idempotency
from .cancel_input import input_errors
from .serializers import CancellationSerializer

# From the validated body, the lines to cancel (may raise CancellationRequestError to refuse the request).
LinesFrom = Callable[[Mapping[str, Any]], list[LineRequest]]


def errors_response(errors: list[LineError], status_code: int = status.HTTP_400_BAD_REQUEST) -> Response:
    return Response({"errors": [e.as_dict() for e in errors]}, status=status_code)


def cancellations_with_calls():
    return cancellation_list().select_related("requested_by").prefetch_related(
        Prefetch("calls", queryset=MarketplaceCall.objects.order_by("created_at", "id"))
    )


def submit(request: Request, serializer_class: type[Serializer], lines_from: LinesFrom) -> Response:
    """Validate, ask the service, answer 202 or 400; with an Idempotency-Key, at most once per key."""
    try:
        serializer = serializer_class(data=request.data)
    except ParseError as exc:  # a malformed body gets the same errors shape as any other bad input
        return errors_response([LineError(None, "body", str(exc.detail))], exc.status_code)
    key = request.headers.get(idempotency.HEADER, "").strip()
    if not key:
        return _run(request, serializer, lines_from, request_id=None)
    if len(key) > idempotency.MAX_KEY_LENGTH:
        return errors_response([LineError(None, idempotency.HEADER,
                                          f"At most {idempotency.MAX_KEY_LENGTH} characters.")])
    user = request.user
    fingerprint = idempotency.request_fingerprint(request.method, request.path, request.data)
    try:
        stored = idempotency.idempotency_begin(user=user, key=key, fingerprint=fingerprint)
    except idempotency.IdempotencyConflict as exc:
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if stored is not None:
        return Response(stored.body, status=stored.status, headers={"Idempotent-Replayed": "true"})
    try:
        response = _run(request, serializer, lines_from, request_id=idempotency.request_id_for(user, key))
    except BaseException:
        idempotency.idempotency_release(user=user, key=key, fingerprint=fingerprint)
        raise
    if response.status_code == status.HTTP_202_ACCEPTED:
        idempotency.idempotency_finish(user=user, key=key, fingerprint=fingerprint,
                                       status=response.status_code, body=response.data)
    else:
        idempotency.idempotency_release(user=user, key=key, fingerprint=fingerprint)
    return response


def _run(request: Request, serializer: Serializer, lines_from: LinesFrom, *, request_id) -> Response:
    if not serializer.is_valid():
        return errors_response(input_errors(serializer.errors, request.data))
    data = serializer.validated_data
    reason = data.get("reason", "")
    try:
        lines = lines_from(data)
        # Checked here as well as in the service: the service's own check does not stop it from pricing.
        unexplained = [LineError(lr.line_id, "reason", "A reason is required.") for lr in lines
                       if not (lr.reason or reason)]
        if unexplained:
            raise CancellationRequestError(unexplained)
        created = cancellation_request(lines=lines, reason=reason, note=data.get("note", ""),
                                       user=request.user, source=Source.API, request_id=request_id,
                                       accept_others=data.get("accept_other_lines", False))
    except CancellationRequestError as exc:
        return errors_response(exc.errors)
    # Read back: with the embedded worker the dispatch has already run on commit.
    cancellations = cancellations_with_calls().filter(pk__in=[c.pk for c in created]).order_by("pk")
    body = {"request_id": str(created[0].request_id),
            "cancellations": CancellationSerializer(cancellations, many=True).data}
    return Response(body, status=status.HTTP_202_ACCEPTED)

