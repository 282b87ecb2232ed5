"""Asking for cancellations: validate, price, record the intent, enqueue on commit. All lines or none."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import IntegrityError, transaction

from .. import pricing
from ..marketplaces.base import LineCancel, PreparedCall
from ..marketplaces.registry import backend_class, get_backend
from ..marketplaces.spec import REFUSE
from ..models import (
    IN_FLIGHT_STATUSES,
    Cancellation,
    CancellationEvent,
    CancellationStatus,
    MarketplaceAccount,
    OrderLine,
)
from ..money import line_parts_from_json, parts_to_json
from ..selectors.reasons import ReasonBook
from .call_planning import calls_plan, cancellations_batch, line_cancels_from
from .errors import CancellationRequestError, LineError
from .events import cancellations_created
from .line_money import amounts_from_stored, line_cancelled
from .reasons import restock_for

#: Most lines one request may name (every entry point checks it; the service enforces it).
MAX_LINES_PER_REQUEST = 500


def _status_blocks(line: OrderLine) -> bool:
    """The line's status allows no operation (the spec's rule, ``OrderLine.status_allows_cancel``)."""
    return not line.status_allows_cancel


def line_is_cancellable(line: OrderLine) -> bool:
    """Units left to cancel and a marketplace status that allows it (annotate with ``with_in_flight``)."""
    return line.cancellable_quantity > 0 and not _status_blocks(line)


@dataclass(frozen=True)
class LineRequest:
    line_id: int
    quantity: int | None = None  # None: everything still cancellable
    reason: str | None = None  # overrides the request's reason for this line


@dataclass
class PreviewLine:
    line: OrderLine
    quantity: int
    reason_code: str = ""
    normalised_reason: str = ""
    amounts: pricing.CancelAmounts | None = None
    error: str = ""
    #: The marketplace call that would carry it (``MarketplaceBackend.call_name``), and whether it is a refusal.
    call: str = ""
    refuses: bool = False


@dataclass
class PreviewGroup:
    account: MarketplaceAccount
    lines: list[PreviewLine] = field(default_factory=list)


@dataclass
class CancellationPreview:
    groups: list[PreviewGroup]
    errors: list[LineError]

    def lines_not_cancellable(self) -> list[PreviewLine]:
        return [pl for g in self.groups for pl in g.lines if pl.error]

    def lines_ok(self) -> list[PreviewLine]:
        return [pl for g in self.groups for pl in g.lines if not pl.error]


def _money(line: OrderLine) -> pricing.LineMoney:
    return pricing.LineMoney(
        quantity=line.quantity, price=line.price, shipping_price=line.shipping_price,
        taxes=line_parts_from_json(line.taxes), shipping_taxes=line_parts_from_json(line.shipping_taxes),
        fees=line_parts_from_json(line.fees),
    )


def _already(line: OrderLine, in_flight: list[dict]) -> pricing.AlreadyCancelled:
    """What is confirmed cancelled on the line plus what in-flight cancellations hold."""
    already = line_cancelled(line)
    for c in in_flight:
        amounts = amounts_from_stored(c["amount"], c["shipping_amount"], c["taxes"], c["shipping_taxes"], c["fees"])
        already = pricing.amounts_add(already, amounts, c["quantity"])
    return already


def _validate_input(lines: Sequence[LineRequest], reason: str) -> list[LineError]:
    errors = []
    if not lines:
        errors.append(LineError(None, "lines", "Give at least one order line."))
    if len(lines) > MAX_LINES_PER_REQUEST:
        errors.append(LineError(None, "lines", f"At most {MAX_LINES_PER_REQUEST} lines per request."))
    seen = set()
    for lr in lines:
        if lr.quantity is not None and (
            isinstance(lr.quantity, bool) or not isinstance(lr.quantity, int) or lr.quantity <= 0
        ):
            errors.append(LineError(lr.line_id, "quantity", "Must be a positive whole number."))
        if lr.line_id in seen:
            errors.append(LineError(lr.line_id, "line", "This line is named twice in the request."))
        seen.add(lr.line_id)
    return errors


def preview_build(lines: Sequence[LineRequest], reason: str, *, lock: bool,
                  accept_others: bool = False) -> CancellationPreview:
    """Validate and price every line with a fixed number of queries, whatever the number of lines.

    Without ``lock`` (a preview) a line with no reason yet is not an error: it is priced all the same.
    ``accept_others``: where a refusal must decide every waiting line of an order, accept the ones not named.
    """
    errors = _validate_input(lines, reason)
    qs = OrderLine.objects.select_related("order__account").filter(pk__in=[lr.line_id for lr in lines])
    if lock:
        qs = qs.select_for_update(of=("self",)).order_by("pk")
    found = {line.pk: line for line in qs}
    in_flight: dict[int, list[dict]] = defaultdict(list)
    for c in Cancellation.objects.filter(line_id__in=found, status__in=IN_FLIGHT_STATUSES).values(
        "line_id", "quantity", "amount", "shipping_amount", "taxes", "shipping_taxes", "fees"
    ):
        in_flight[c["line_id"]].append(c)
    book = ReasonBook({line.order.account_id for line in found.values()})

    groups: dict[int, PreviewGroup] = {}
    for lr in lines:
        line = found.get(lr.line_id)
        if line is None:
            errors.append(LineError(lr.line_id, "line", "No such order line."))
            continue
        account = line.order.account
        group = groups.setdefault(account.pk, PreviewGroup(account=account))
        already = _already(line, in_flight[line.pk])
        cancellable = max(line.quantity - already.quantity, 0)
        if line.open_quantity is not None:  # units already shipped cannot be cancelled
            held = sum(c["quantity"] for c in in_flight[line.pk])
            cancellable = min(cancellable, max(line.open_quantity - held, 0))
        quantity = lr.quantity if lr.quantity is not None else cancellable
        pl = PreviewLine(line=line, quantity=quantity)
        group.lines.append(pl)
        problem = _line_problem(line, account, cancellable, lr, quantity)
        if problem is None and account.spec.cancel_carries_amounts:
            # Amounts do not depend on the reason, so they are shown even before one is chosen.
            pl.amounts = pricing.cancellation_amounts(_money(line), already, quantity)
        asked_reason = lr.reason or reason
        resolved = book.resolve(account, asked_reason) if asked_reason else None
        if problem is None and resolved is None and (asked_reason or lock):
            problem = ("reason", "A reason is required.") if not asked_reason else (
                "reason",
                f"{asked_reason!r} is not a valid cancellation reason on {account.name} "
                f"({account.get_marketplace_display()}).",
            )
        if problem:
            pl.error = problem[1]
            errors.append(LineError(line.pk, problem[0], problem[1]))
            continue
        pl.reason_code, pl.normalised_reason = resolved or ("", "")
        pl.refuses, pl.call = _refuses(line), _call_name(pl)
    preview = CancellationPreview(groups=list(groups.values()), errors=errors)
    _order_rules(preview, {lr.line_id: lr for lr in lines}, accept_others=accept_others)
    return preview


def _order_rules(preview: CancellationPreview, asked: dict[int, LineRequest], *, accept_others: bool) -> None:
    """Rules over whole orders, from the spec: a refusal decides every waiting line of its order (unless the
    request accepts the others, where the account allows it); an account that cancels whole orders only must
    be asked for every open unit of every line of the order. One query for the orders involved."""
    checked = [pl for pl in preview.lines_ok() if _refuses(pl.line) or _whole_orders_only(pl.line)]
    if not checked:
        return
    siblings: dict[int, list[OrderLine]] = defaultdict(list)
    for line in (OrderLine.objects.with_in_flight().select_related("order__account")
                 .filter(order_id__in={pl.line.order_id for pl in checked})):
        siblings[line.order_id].append(line)
    for pl in checked:
        line, account = pl.line, pl.line.order.account
        others = [o for o in siblings[line.order_id] if o.pk not in asked and o.cancellable_quantity > 0]
        if _refuses(line):
            waiting = [o.external_id for o in others if _refuses(o)]
            if waiting and not accept_others:
                problem = ("line", f"Order {line.order.external_id} has other lines waiting for acceptance "
                           f"({', '.join(waiting)}): the marketplace needs a decision on each in the same call. "
                           "Refuse them too, or accept them in the same call.")
            elif waiting and not account.spec.allows_partial_acceptance(account.options):
                problem = ("line", f"{account.name} does not allow accepting some lines of an order while refusing "
                           f"others; refuse every waiting line of order {line.order.external_id}.")
            else:
                continue
        else:
            partial = [o.external_id for o in others]  # cancellable lines of the order not asked for
            partial += [line.external_id] if pl.quantity < line.quantity - line.cancelled_quantity else []
            if not partial:
                continue
            problem = ("line", f"{account.name} cancels whole orders only (the marketplace does not let this shop "
                       f"cancel part of an order): ask for every unit of every line of order "
                       f"{line.order.external_id} (missing: {', '.join(partial)}).")
        pl.error = problem[1]
        preview.errors.append(LineError(line.pk, *problem))


def _call_name(pl: PreviewLine) -> str:
    line, account = pl.line, pl.line.order.account
    return backend_class(account.marketplace).call_name(LineCancel(
        ref=0, order_id=line.order.external_id, line_id=line.external_id, quantity=pl.quantity, reason_code="",
        line_status=line.status, whole_order=_whole_orders_only(line),
    ))


def _refuses(line: OrderLine) -> bool:
    """The line is refused whole rather than cancelled (an order not accepted yet)."""
    return line.order.account.spec.operation_for(line.status) == REFUSE


def _whole_orders_only(line: OrderLine) -> bool:
    account = line.order.account
    return account.spec.cancels_whole_orders(account.options)


def _line_problem(line, account, cancellable: int, lr: LineRequest, quantity: int) -> tuple[str, str] | None:
    if not account.enabled:
        return "line", f"Account {account.name} is disabled."
    if _status_blocks(line):
        return "line", f"The line is {line.status or 'in an unknown state'} on the marketplace; it cannot be cancelled."
    if cancellable <= 0:
        return "quantity", "Nothing left to cancel on this line (shipped, cancelled or already being cancelled)."
    if lr.quantity is not None and quantity > cancellable:
        return "quantity", f"At most {cancellable} unit(s) can still be cancelled; {quantity} asked."
    if _refuses(line) and quantity != cancellable:
        return "quantity", (f"The line is {line.status} (not accepted yet): it can only be refused whole, "
                            f"{cancellable} unit(s); {quantity} asked.")
    return None


@dataclass(frozen=True)
class DryRunCall:
    account: MarketplaceAccount
    lines: list[PreviewLine]
    call: PreparedCall


def cancellation_dry_run(*, lines: Sequence[LineRequest], reason: str,
                         accept_others: bool = False) -> tuple[CancellationPreview, list[DryRunCall]]:
    """The preview, and exactly the marketplace calls a request would make (batched as dispatch batches them)."""
    preview = preview_build(lines, reason, lock=False, accept_others=accept_others)
    if preview.errors:
        return preview, []
    by_line = {pl.line.pk: pl for pl in preview.lines_ok()}
    unsaved = [_cancellation_from(pl, uuid.uuid4(), None, "cli", "", accept_others=accept_others)
               for pl in by_line.values()]
    calls = []
    for _, _, members in cancellations_batch(unsaved):
        account = members[0].line.order.account
        with get_backend(account) as backend:
            prepared = backend.cancel_request(line_cancels_from(members))
        calls.append(DryRunCall(account=account, lines=[by_line[c.line_id] for c in members], call=prepared))
    return preview, calls


def cancellation_preview(*, lines: Sequence[LineRequest], reason: str,
                         accept_others: bool = False) -> CancellationPreview:
    """What a request would do (amounts included), and what is not cancellable and why. Writes nothing.

    A line without a reason yet is priced and not reported as an error (the request itself requires one).
    """
    return preview_build(lines, reason, lock=False, accept_others=accept_others)


def cancellation_request(
    *, lines: Sequence[LineRequest], reason: str, note: str = "", user=None, source: str,
    request_id: uuid.UUID | None = None, accept_others: bool = False,
) -> list[Cancellation]:
    """Record cancellations for ``lines`` and their outbox calls; dispatch starts on commit.

    All or none: any invalid line refuses the whole request (``CancellationRequestError``, nothing stored).
    Giving the same ``request_id`` again returns the first request's cancellations (a double submit), also
    when both arrive at once: the second waits for the line locks, then finds the first one's rows.
    """
    try:
        return _request_record(lines=lines, reason=reason, note=note, user=user, source=source,
                               request_id=request_id, accept_others=accept_others)
    except IntegrityError:  # the (request_id, line) constraint: a twin request committed first
        earlier = _earlier(request_id, user, lines)
        if not earlier:
            raise
        return earlier


def _earlier(request_id: uuid.UUID | None, user, lines: Sequence[LineRequest]) -> list[Cancellation]:
    """The cancellations of an earlier request with this id: the same user's, on the same lines, or refused."""
    earlier = list(Cancellation.objects.filter(request_id=request_id).order_by("pk")) if request_id else []
    if not earlier:
        return []
    user_id = user.pk if getattr(user, "is_authenticated", False) else None
    if {c.requested_by_id for c in earlier} != {user_id} or {c.line_id for c in earlier} != {
            lr.line_id for lr in lines}:
        raise CancellationRequestError([LineError(
            None, "request_id", "This request id belongs to another request (another user or other lines).")])
    return earlier


@transaction.atomic(durable=True)
def _request_record(*, lines, reason, note, user, source, request_id, accept_others) -> list[Cancellation]:
    preview = preview_build(lines, reason, lock=True, accept_others=accept_others)
    earlier = _earlier(request_id, user, lines)  # after the locks, so a twin that just committed is seen
    if earlier:
        return earlier
    if preview.errors:
        raise CancellationRequestError(preview.errors)

    request_id = request_id or uuid.uuid4()
    user = user if getattr(user, "is_authenticated", False) else None
    created = Cancellation.objects.bulk_create([
        _cancellation_from(pl, request_id, user, source, note, accept_others=accept_others)
        for pl in preview.lines_ok()
    ])
    CancellationEvent.objects.bulk_create(
        CancellationEvent(cancellation=c, from_status="", to_status=c.status, actor=user, source=source,
                          message=note[:2000] or "Requested")
        for c in created
    )
    cancellations_created(created)  # integration events, same transaction
    calls_plan(created)
    return created


def _cancellation_from(pl: PreviewLine, request_id, user, source: str, note: str, *,
                       accept_others: bool = False) -> Cancellation:
    amounts = pl.amounts
    return Cancellation(
        line=pl.line, account=pl.line.order.account, quantity=pl.quantity, reason_code=pl.reason_code,
        reason=pl.normalised_reason, note=note, status=CancellationStatus.PENDING,
        amount=amounts.amount if amounts else Decimal("0"),
        shipping_amount=amounts.shipping_amount if amounts else Decimal("0"),
        taxes=parts_to_json(amounts.taxes) if amounts else [],
        shipping_taxes=parts_to_json(amounts.shipping_taxes) if amounts else [],
        fees=parts_to_json(amounts.fees) if amounts else [], accept_other_lines=accept_others and _refuses(pl.line),
        currency=pl.line.order.currency, restock=restock_for(pl.normalised_reason), requested_by=user,
        source=source, request_id=request_id,
    )
