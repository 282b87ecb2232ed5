"""The cancellation pipeline is data: every status change goes through one function that refuses illegal moves."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cancellations.models import Cancellation, CancellationEvent, CancellationStatus, Source
from cancellations.services.errors import CancellationStateError, StatusMoveError
from cancellations.services.history import STATUS_MOVES, cancellations_transition
from tests.factories import account_create, order_create

NEEDS_ATTENTION = CancellationStatus.NEEDS_ATTENTION

SERVICES = Path(__file__).resolve().parents[2] / "cancellations" / "services"


def _cancellation(status: str) -> Cancellation:
    line = order_create(account=account_create()).lines.get()
    return Cancellation.objects.create(line=line, account=line.order.account, quantity=1, reason_code="34",
                                       status=status, source=Source.API)


def test_every_status_has_its_moves_declared():
    assert set(CancellationStatus.values) | {NEEDS_ATTENTION} == set(STATUS_MOVES)
    assert STATUS_MOVES[CancellationStatus.CONFIRMED] == frozenset()
    assert all(targets <= set(STATUS_MOVES) for targets in STATUS_MOVES.values())


def test_needs_attention_is_reached_from_ambiguous_states_and_settled_by_a_person():
    sources = {status for status, targets in STATUS_MOVES.items() if NEEDS_ATTENTION in targets}
    assert sources == {"sending", "verifying", "retry_scheduled"}
    assert STATUS_MOVES[NEEDS_ATTENTION] == {"confirmed", "rejected", "failed", "pending"}


@pytest.mark.django_db
@pytest.mark.parametrize(("start", "target"), [
    ("confirmed", "pending"), ("confirmed", "sending"), ("pending", "confirmed"), ("rejected", "sending"),
    ("failed", "confirmed"), ("pending", "pending"),
])
def test_an_illegal_move_raises_and_changes_nothing(start, target):
    allowed_from = next(status for status, targets in STATUS_MOVES.items() if target in targets)
    legal = _cancellation(allowed_from)
    illegal = _cancellation(start)
    with pytest.raises(StatusMoveError, match=f"A {start} cancellation cannot become {target}"):
        cancellations_transition([legal, illegal], target, message="no")
    assert isinstance(StatusMoveError("x"), CancellationStateError)  # callers answer it like any state error
    assert {c.status for c in Cancellation.objects.all()} == {allowed_from, start}
    assert not CancellationEvent.objects.exists()


@pytest.mark.django_db
def test_a_legal_move_saves_the_status_and_one_history_row_each():
    cancellations = [_cancellation("sending"), _cancellation("sending")]
    cancellations_transition(cancellations, "verifying", message="read back", error_code="timeout")
    assert set(Cancellation.objects.values_list("status", "error_code")) == {("verifying", "timeout")}
    assert list(CancellationEvent.objects.values_list("from_status", "to_status")) == [("sending", "verifying")] * 2


def _status_writes(tree: ast.AST) -> list[int]:
    """Lines that assign ``<x>.status = ...`` or pass ``status=`` to ``update()``."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Attribute) and t.attr == "status" for t in node.targets):
            lines.append(node.lineno)
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "update" and any(
                k.arg == "status" for k in node.keywords):
            lines.append(node.lineno)
    return lines


def test_only_the_transition_function_writes_a_cancellation_status():
    """The line status (``line.status``, synced from the marketplace) is the one other status services write."""
    found = {}
    for path in SERVICES.glob("*.py"):
        source = path.read_text()
        lines = [n for n in _status_writes(ast.parse(source))
                 if "line.status" not in source.splitlines()[n - 1]]
        if lines and path.name != "history.py":
            found[path.name] = lines
    assert not found, found


def test_services_reach_celery_only_through_the_enqueue_module():
    offenders = []
    for path in SERVICES.glob("*.py"):
        if path.name == "enqueue.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [f"{'.' * node.level}{node.module or ''}"]
            offenders += [f"{path.name}: {n}" for n in names
                          if n.split(".")[0] in {"celery", "kombu"} or n.lstrip(".") in {"tasks", "backoffice.celery"}
                          or n.endswith(".tasks") or n.endswith("backoffice.celery")]
    assert not offenders, offenders
