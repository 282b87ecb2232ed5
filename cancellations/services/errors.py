"""Errors the service layer raises to its callers (admin, API, CLI)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class LineError:
    """One reason a request was refused. ``line`` is the OrderLine pk (None for request-level errors)."""

    line: int | None
    field: str
    message: str

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "request"
        return f"{where}: {self.field}: {self.message}"


class CancellationRequestError(Exception):
    """The request was refused as a whole; nothing was stored."""

    def __init__(self, errors: list[LineError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


class CancellationStateError(Exception):
    """The cancellation is not in a state that allows this action."""


class StatusMoveError(CancellationStateError):
    """A status change the cancellation pipeline does not allow (``history.STATUS_MOVES``); nothing was changed."""
