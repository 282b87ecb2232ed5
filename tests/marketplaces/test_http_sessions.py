"""Kept-alive sessions per thread and account, over a real loopback socket."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cancellations.marketplaces import http_sessions
from cancellations.marketplaces.base import AccountConfig, MarketplaceBackend


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    connections: list[int] = []
    cookies_seen: list[str] = []

    def setup(self) -> None:
        super().setup()
        _Handler.connections.append(id(self.connection))

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        _Handler.cookies_seen.append(self.headers.get("Cookie", ""))
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Set-Cookie", "session=abc; Path=/")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    _Handler.connections, _Handler.cookies_seen = [], []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    http_sessions.sessions_close()
    httpd.shutdown()
    httpd.server_close()


def _get(base: str, account: str = "shop") -> None:
    config = AccountConfig(name=account, marketplace="mirakl", base_url=base, credentials={})
    with MarketplaceBackend(config) as backend:
        assert backend.request("probe", "GET", f"{base}/api/ping").status_code == 200


def test_calls_of_one_account_on_one_thread_share_one_connection(server):
    for _ in range(3):
        _get(server)
    assert len(_Handler.connections) == 1


def test_each_thread_and_each_account_has_its_own_session(server):
    _get(server)
    _get(server, account="other-shop")
    other_thread = threading.Thread(target=_get, args=(server,))
    other_thread.start()
    other_thread.join()
    assert len(_Handler.connections) == 3


def test_cookies_a_marketplace_sets_are_never_sent_back(server):
    _get(server)
    _get(server)
    assert _Handler.cookies_seen == ["", ""]


def test_sessions_beyond_the_limit_are_closed(server, monkeypatch):
    monkeypatch.setattr(http_sessions, "SESSIONS_PER_THREAD", 2)
    first = http_sessions.session_for(("a", server))
    http_sessions.session_for(("b", server))
    http_sessions.session_for(("c", server))
    assert http_sessions.session_for(("a", server)) is not first
