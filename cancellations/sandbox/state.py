"""The sandbox's shared records: faults to inject, the request log and the cancels it applied."""

from __future__ import annotations

from django.db import transaction
from django.db.models import BooleanField, F
from django.db.models.expressions import RawSQL

from .models import SandboxCancel, SandboxFault, SandboxRequest, SandboxSeller

#: The attribute ``faults_pending`` annotates on the seller an authentication query reads.
FAULTS_PENDING = "sandbox_faults_pending"


def faults_pending(operation: str) -> RawSQL:
    """For an emulator's authentication query (``.annotate(**{FAULTS_PENDING: ...})``, on the sellers or
    joining them once): whether any fault of the seller's marketplace waits for this operation. ``fault_take``
    then needs no statement of its own in the usual case, where none does.

    Plain SQL rather than ``Exists(...OuterRef...)``: building and compiling that subquery cost ≈ 0.6 ms of CPU
    per request, more than the statement it saves (≈ 0.3 ms); this costs ≈ 0.1 ms.
    """
    fault, seller = SandboxFault._meta.db_table, SandboxSeller._meta.db_table
    return RawSQL(
        f'EXISTS (SELECT 1 FROM "{fault}" WHERE "{fault}"."marketplace" = "{seller}"."marketplace" '
        f'AND "{fault}"."operation" = %s AND "{fault}"."remaining" > 0)',
        [operation], output_field=BooleanField(),
    )


def fault_take(*, marketplace: str, operation: str, seller: SandboxSeller | None) -> SandboxFault | None:
    """Consume one use of the first fault matching this request, if any."""
    pending = getattr(seller, FAULTS_PENDING, None)  # read with the seller (``faults_pending``), if it was
    if pending is None:
        pending = SandboxFault.objects.filter(marketplace=marketplace, operation=operation, remaining__gt=0).exists()
    if not pending:  # the usual case: a plain read, no write lock taken
        return None
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
    seller: SandboxSeller | None, request_id: str = "",
) -> None:
    SandboxRequest.objects.create(
        marketplace=marketplace, seller=seller, operation=operation, method=method, path=path,
        status_code=status_code, request_id=request_id,
    )


def cancel_record(
    *, seller_id: int, order_id: str, line_id: str, quantity: int, reason_code: str, operation: str,
    request_id: str = "", source: str = SandboxCancel.REQUEST,
) -> SandboxCancel:
    """Record units the marketplace cancelled (call inside the transaction that changes the order)."""
    return cancels_record([cancel_row(
        seller_id=seller_id, order_id=order_id, line_id=line_id, quantity=quantity, reason_code=reason_code,
        operation=operation, request_id=request_id, source=source,
    )])[0]


def cancel_row(
    *, seller_id: int, order_id: str, line_id: str, quantity: int, reason_code: str, operation: str,
    request_id: str = "", source: str = SandboxCancel.REQUEST,
) -> SandboxCancel:
    """One record of cancelled units, not saved yet: ``cancels_record`` saves a request's rows at once."""
    return SandboxCancel(
        seller_id=seller_id, order_id=order_id, line_id=line_id, quantity=quantity, reason_code=reason_code,
        operation=operation, request_id=request_id, source=source,
    )


def cancels_record(rows: list[SandboxCancel]) -> list[SandboxCancel]:
    """Save the records of one request in one INSERT, in their order (inside the order's transaction)."""
    return SandboxCancel.objects.bulk_create(rows) if rows else []
