"""Kept-alive sessions per thread and account, over a real loopback socket."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from cancellations.marketplaces import http_sessions
from cancellations.marketplaces.base import AccountConfig, MarketplaceBackend, response_text


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


def test_a_session_reads_the_environment_s_proxy_for_its_host_once(monkeypatch):
    """requests would look the environment up before every call; the session does it when it is made."""
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    proxied = http_sessions.session_new("https://marketplace.example")
    bypassed = http_sessions.session_new("https://api.internal.example")
    monkeypatch.setenv("HTTPS_PROXY", "http://other.example:3128")  # read once: a later change is not seen
    assert proxied.proxies["https"] == "http://proxy.example:3128"
    assert "https" not in bypassed.proxies
    assert not proxied.trust_env


def test_a_session_takes_the_environment_s_ca_bundle(monkeypatch, tmp_path):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    assert http_sessions.session_new("https://marketplace.example").verify == str(tmp_path / "ca.pem")


def test_a_body_without_a_charset_is_read_as_utf8():
    response = requests.Response()
    response._content = "Annulée".encode()
    response.headers["Content-Type"] = "application/json"
    assert response_text(response) == "Annulée"
