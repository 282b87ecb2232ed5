"""Drift: cancellations made on the marketplace outside this product are mirrored as ``Cancellation`` rows.

Order sync calls ``marketplace_cancellations_record`` for every line it read. A line with one of our
cancellations still in flight is left for a later sync (an entry there may be ours, awaiting verification).

- Where the marketplace lists cancellations with ids: every entry whose id no
  cancellation of ours carries becomes a row with that id as ``marketplace_reference``.
- Where it reports a cancelled quantity only: units cancelled beyond what our confirmed rows account
  for become one row of the difference.

Rows have source ``marketplace`` and status ``confirmed``, so the admin, the API and the cancellation rate count
them. A deterministic ``request_id`` per line and entry (with the unique (request_id, line) constraint) and the
accounting above mean a re-sync records nothing twice.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from django.utils import timezone

from ..marketplaces.base import MarketplaceOrderLine
from ..models import IN_FLIGHT_STATUSES, Cancellation, CancellationStatus, OrderLine, Source
from ..money import parts_to_json
from .events import cancellations_created

_NAMESPACE = uuid.UUID("b7a4f0d2-5c1e-4f8a-9d3b-0e6c2a1f7b58")


def marketplace_cancellations_record(pairs: Sequence[tuple[OrderLine, MarketplaceOrderLine]]) -> list[Cancellation]:
    """Record what the marketplace cancelled on these lines without us. Two queries whatever the count."""
    if not pairs:
        return []
    ours: dict[int, list[tuple[str, int, str]]] = defaultdict(list)
    for line_id, status, quantity, reference in Cancellation.objects.filter(
            line_id__in=[line.pk for line, _ in pairs]).values_list("line_id", "status", "quantity",
                                                                   "marketplace_reference"):
        ours[line_id].append((status, quantity, reference))
    now = timezone.now()
    found: list[Cancellation] = []
    for line, remote in pairs:
        rows = ours[line.pk]
        if any(status in IN_FLIGHT_STATUSES for status, _, _ in rows):
            continue
        if remote.cancellations:
            known = {reference for _, _, reference in rows if reference}
            # Ours confirmed without the marketplace's id (an answer that did not give it) match by quantity.
            unreferenced = [q for status, q, reference in rows if status == CancellationStatus.CONFIRMED
                            and not reference]
            for e in remote.cancellations:
                if not e.id or e.id in known or e.quantity <= 0:
                    continue
                if e.quantity in unreferenced:
                    unreferenced.remove(e.quantity)
                    continue
                found.append(_row(line, e.quantity, now, reference=e.id, reason_code=e.reason_code, amounts=e))
        else:
            accounted = sum(q for status, q, _ in rows if status == CancellationStatus.CONFIRMED)
            extra = min(remote.cancelled_quantity, line.quantity) - accounted
            if extra > 0:
                found.append(_row(line, extra, now, reference="", reason_code="", amounts=None,
                                  key=f"units:{accounted}+{extra}"))
    created = Cancellation.objects.bulk_create(found)
    cancellations_created(created)
    return created


def _row(line: OrderLine, quantity: int, now, *, reference: str, reason_code: str, amounts,
         key: str = "") -> Cancellation:
    fields = {}
    if amounts is not None:
        fields = {"amount": amounts.amount, "shipping_amount": amounts.shipping_amount,
                  "taxes": parts_to_json(amounts.taxes), "shipping_taxes": parts_to_json(amounts.shipping_taxes)}
    return Cancellation(
        line=line, account_id=line.order.account_id, quantity=quantity, reason_code=reason_code[:100],
        status=CancellationStatus.CONFIRMED, source=Source.MARKETPLACE, marketplace_reference=reference,
        confirmed_at=now, restock=False, currency=line.order.currency,
        note="Cancelled on the marketplace outside this back-office (found by order sync).",
        request_id=uuid.uuid5(_NAMESPACE, f"{line.pk}:{reference or key}"), **fields,
    )
