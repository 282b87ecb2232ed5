"""A real HTTP receiver on 127.0.0.1 for webhook tests, answering with scripted status codes."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.api.conftest import api, user_with  # noqa: F401
from tests.integration.conftest import mirakl_live  # noqa: F401
from tests.services.conftest import fake, mirakl_account, mirakl_order, walmart_account  # noqa: F401


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    script: list[int] = field(default_factory=list)  # status codes answered in turn, then 200
    received: list[Received] = field(default_factory=list)


@pytest.fixture(autouse=True)
def _sweep_inline(settings):
    """One sweep thread: other threads would not see a test's uncommitted rows (the threaded test opts in)."""
    settings.WEBHOOK_SWEEP_THREADS = 1


@pytest.fixture
def receiver():
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.received.append(Received(self.path, dict(self.headers.items()), body))
            code = state.script.pop(0) if state.script else 200
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    yield state
    server.shutdown()
    server.server_close()
