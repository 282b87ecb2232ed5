"""Logging filters that keep the console for what a person must act on."""

from __future__ import annotations

import logging


class SandboxAnswers(logging.Filter):
    """Drop Django's "Internal Server Error" / "Bad Request" lines for the sandbox's deliberate answers.

    The sandbox answers 4xx/5xx on purpose (an injected fault, a marketplace business error); those are not
    our server's errors. An exception raised inside the sandbox carries ``exc_info`` and is still logged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        path = getattr(request, "path", "") or ""
        return not (path.startswith("/sandbox/") and not record.exc_info)
