"""Grouping due cancellations into the fewest marketplace calls (the outbox rows) and enqueueing them.

Each backend says which lines may share a call (``batch_key``: a purchase order, or an account's tax mode) and
how many (``max_lines_per_cancel``). A line never has two
cancellations in flight in one call or in two calls at once, so results and verification stay unambiguous.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from django.db.models import prefetch_related_objects

from ..marketplaces.base import LineCancel
from ..marketplaces.registry import backend_class
from ..marketplaces.spec import REFUSE
from ..models import CallState, Cancellation, CancellationStatus, MarketplaceCall
from ..money import parts_from_json
from .enqueue import calls_enqueue_on_commit


def _other_refusable_lines(c: Cancellation) -> tuple[str, ...]:
    """Ids of the order's other lines waiting for a decision (only asked when the request accepts them)."""
    if not c.accept_other_lines:
        return ()
    spec = c.line.order.account.spec
    return tuple(line.external_id for line in c.line.order.lines.all()
                 if line.pk != c.line_id and spec.operation_for(line.status) == REFUSE)


def line_cancels_from(cancellations: Sequence[Cancellation]) -> list[LineCancel]:
    """``line_cancel_from`` of each, the other lines of every order whose request accepts them read in one query
    (not one per cancellation)."""
    accepting = [c.line.order for c in cancellations if c.accept_other_lines]
    if accepting:
        prefetch_related_objects(accepting, "lines")
    return [line_cancel_from(c) for c in cancellations]


def line_cancel_from(c: Cancellation) -> LineCancel:
    """The backend's view of one cancellation (needs ``line__order__account`` loaded)."""
    order = c.line.order
    return LineCancel(
        ref=c.pk, order_id=order.external_id, line_id=c.line.external_id, quantity=c.quantity,
        reason_code=c.reason_code, amount=c.amount, shipping_amount=c.shipping_amount,
        taxes=parts_from_json(c.taxes), shipping_taxes=parts_from_json(c.shipping_taxes),
        currency=c.currency or order.currency, tax_mode=order.tax_mode, previously_cancelled=c.line.cancelled_quantity,
        line_status=c.line.status, fees=parts_from_json(c.fees), accept_others=_other_refusable_lines(c),
        whole_order=order.account.spec.cancels_whole_orders(order.account.options),
    )


def cancellations_batch(cancellations: Sequence[Cancellation]) -> list[tuple[int, str, list[Cancellation]]]:
    """(account id, batch key, members) per marketplace call: the backend's batch key and size limit decide."""
    groups: dict[tuple[int, str], list[Cancellation]] = defaultdict(list)
    for c, line_cancel in zip(cancellations, line_cancels_from(cancellations), strict=True):
        account = c.line.order.account
        groups[(account.pk, backend_class(account.marketplace).batch_key(line_cancel))].append(c)
    batches = []
    for (account_id, key), members in groups.items():
        limit = backend_class(members[0].line.order.account.marketplace).max_lines_per_cancel or len(members)
        batches += [(account_id, key, members[i:i + limit]) for i in range(0, len(members), limit)]
    return batches


def calls_plan(cancellations: Sequence[Cancellation]) -> list[MarketplaceCall]:
    """Create queued cancel calls for these pending cancellations; dispatch each on commit.

    Runs inside the caller's transaction with a fixed number of queries.
    """
    pending = [c for c in cancellations if c.status == CancellationStatus.PENDING]
    if not pending:
        return []
    line_ids = {c.line_id for c in pending}
    busy_lines = set(
        Cancellation.objects.filter(
            line_id__in=line_ids, status__in=[CancellationStatus.SENDING, CancellationStatus.VERIFYING]
        ).values_list("line_id", flat=True)
    ) | set(
        MarketplaceCall.objects.filter(
            state__in=[CallState.QUEUED, CallState.SENDING], cancellations__line_id__in=line_ids
        ).values_list("cancellations__line_id", flat=True)
    )
    free = []
    for c in sorted(pending, key=lambda c: c.pk):
        if c.line_id not in busy_lines:  # otherwise it waits for the line's current call
            busy_lines.add(c.line_id)
            free.append(c)
    batches = [
        (MarketplaceCall(account_id=account_id, operation="cancel", state=CallState.QUEUED, batch_key=key), members)
        for account_id, key, members in cancellations_batch(free)
    ]
    if not batches:
        return []
    calls = MarketplaceCall.objects.bulk_create([call for call, _ in batches])
    Through = MarketplaceCall.cancellations.through
    Through.objects.bulk_create(
        Through(marketplacecall_id=call.pk, cancellation_id=c.pk)
        for call, (_, members) in zip(calls, batches, strict=True) for c in members
    )
    calls_enqueue_on_commit([call.pk for call in calls])
    return calls
