"""Shared helpers of both emulated marketplaces: faults to inject and the request log."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from .models import SandboxFault, SandboxRequest, SandboxSeller


def fault_take(*, marketplace: str, operation: str, seller: SandboxSeller | None) -> SandboxFault | None:
    """Consume one use of the first fault matching this request, if any."""
    with transaction.atomic():
        qs = SandboxFault.objects.select_for_update().filter(
            marketplace=marketplace, operation=operation, remaining__gt=0
        )
        fault = qs.filter(seller=seller).first() if seller else None
        fault = fault or qs.filter(seller__isnull=True).first()
        if fault is None:
            return None
        SandboxFault.objects.filter(pk=fault.pk).update(remaining=F("remaining") - 1)
        return fault


def request_log(
    *, marketplace: str, operation: str, method: str, path: str, status_code: int | None,
    seller: SandboxSeller | None,
) -> None:
    SandboxRequest.objects.create(
        marketplace=marketplace, seller=seller, operation=operation, method=method, path=path,
        status_code=status_code,
    )
