"""The service layer: every write goes through here, whichever entry point (admin, API, CLI, task) asks."""

from .cancellation_actions import cancellation_retry, cancellation_verify_request
from .cancellation_dispatch import call_dispatch
from .cancellation_request import (
    CancellationPreview,
    LineRequest,
    PreviewGroup,
    PreviewLine,
    cancellation_dry_run,
    cancellation_preview,
    cancellation_request,
)
from .cancellation_sweep import cancellations_sweep
from .cancellation_verify import cancellations_verify
from .errors import CancellationRequestError, CancellationStateError, LineError
from .orders_sync import SyncReport, orders_sync, orders_sync_request

__all__ = [
    "CancellationPreview",
    "CancellationRequestError",
    "CancellationStateError",
    "LineError",
    "LineRequest",
    "PreviewGroup",
    "PreviewLine",
    "SyncReport",
    "call_dispatch",
    "cancellation_dry_run",
    "cancellation_preview",
    "cancellation_request",
    "cancellation_retry",
    "cancellation_verify_request",
    "cancellations_sweep",
    "cancellations_verify",
    "orders_sync",
    "orders_sync_request",
]
