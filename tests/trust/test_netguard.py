"""Issue 8 §2: base URLs are host roots on allowed public hosts; connections to internal addresses are refused."""

from __future__ import annotations

import socket
import threading

import pytest
import requests

from cancellations.marketplaces.base import AccountConfig, ConfigurationError
from cancellations.marketplaces.mirakl.backend import MiraklBackend
from cancellations.models import MarketplaceAccount
from cancellations.netguard import address_forbidden, guarded_session, is_destination_refused
from cancellations.services import orders_sync
from tests.api.conftest import user_with
from tests.factories import account_create

PROBED = [  # the black-box probe's URLs, refused under production settings
    "http://localhost:6379",
    "https://169.254.169.254",
    "https://10.1.2.3",
    "https://[::1]",
    "https://[::ffff:127.0.0.1]",
    "https://metadata.google.internal",
    "https://user:pass@marketplace.walmartapis.com",
    "https://marketplace.walmartapis.com?x=1",
    "https://marketplace.walmartapis.com#frag",
    "https://marketplace.walmartapis.com/v3/ca",
    "ftp://marketplace.walmartapis.com",
    "https://",
]
ALLOWED = ["https://marketplace.walmartapis.com", "https://bestbuy-prod.mirakl.net/", "https://marketplace.bestbuy.ca"]


@pytest.fixture
def production(settings):
    settings.SANDBOX_ENABLED = False
    settings.MARKETPLACE_ALLOWED_HOSTS = ["marketplace.walmartapis.com", "*.mirakl.net", "marketplace.bestbuy.ca"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", PROBED)
def test_api_refuses_internal_and_malformed_base_urls(api, production, url):
    user = user_with("ops", "add_marketplaceaccount", "view_marketplaceaccount")
    response = api(user).post("/api/accounts/", {"name": "x", "marketplace": "mirakl", "base_url": url,
                                                 "credentials": {"api_key": "k-123456"}}, format="json")
    assert response.status_code == 400 and "base_url" in response.json(), response.content
    assert not MarketplaceAccount.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("url", ALLOWED)
def test_api_accepts_marketplace_host_roots(api, production, url):
    user = user_with("ops", "add_marketplaceaccount", "view_marketplaceaccount")
    response = api(user).post("/api/accounts/", {"name": "x", "marketplace": "mirakl", "base_url": url,
                                                 "credentials": {"api_key": "k-123456"}}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["base_url"] == url.rstrip("/")


@pytest.mark.django_db
def test_admin_form_refuses_a_metadata_host(admin_client, production):
    response = admin_client.post("/admin/cancellations/marketplaceaccount/add/", {
        "name": "m", "marketplace": "mirakl", "base_url": "https://169.254.169.254", "enabled": "on",
        "options": "{}", "credential_api_key": "k-123456"})
    assert response.status_code == 200 and "must not point to a loopback" in response.content.decode()


@pytest.mark.django_db
def test_a_stored_url_that_became_invalid_is_an_account_error_without_a_call(production):
    account = account_create(marketplace="mirakl", base_url="https://169.254.169.254")
    with pytest.raises(ConfigurationError):
        orders_sync(account=account)
    account.refresh_from_db()
    assert "base_url_refused" in account.last_error


def test_sandbox_mode_allows_loopback_http_with_a_path_only(settings):
    settings.SANDBOX_ENABLED = True
    from cancellations.marketplaces.base import validate_base_url

    assert validate_base_url("http://127.0.0.1:8000/sandbox/mirakl/") == "http://127.0.0.1:8000/sandbox/mirakl"
    for url in ("http://marketplace.walmartapis.com", "https://marketplace.walmartapis.com/api"):
        with pytest.raises(ConfigurationError):
            validate_base_url(url)


@pytest.mark.parametrize(("address", "forbidden"), [
    ("127.0.0.1", True), ("10.0.0.1", True), ("172.16.5.4", True), ("192.168.1.1", True),
    ("169.254.169.254", True), ("100.64.0.1", True), ("224.0.0.251", True), ("240.0.0.1", True),
    ("0.0.0.0", True), ("::1", True), ("fe80::1", True), ("fc00::1", True), ("::ffff:10.0.0.1", True),
    ("8.8.8.8", False), ("2606:4700:4700::1111", False),
])
def test_address_classification(address, forbidden):
    assert address_forbidden(address) is forbidden


class _Listener:
    """A loopback TCP server that records what it receives."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received = b""
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.settimeout(1)
            try:
                while chunk := conn.recv(4096):
                    self.received += chunk
            except OSError:
                pass
            conn.close()


@pytest.fixture
def listener():
    server = _Listener()
    yield server
    server.sock.close()


@pytest.fixture
def rebinding_dns(monkeypatch):
    """marketplace.example.com resolves (later, after validation) to 127.0.0.1."""
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        return real("127.0.0.1" if host == "marketplace.example.com" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


def test_the_guard_refuses_a_host_that_resolves_to_loopback_before_sending_anything(
        settings, listener, rebinding_dns):
    settings.SANDBOX_ENABLED = False
    settings.MARKETPLACE_ALLOWED_HOSTS = ["marketplace.example.com"]
    backend = MiraklBackend(AccountConfig(name="m", marketplace="mirakl",
                                          base_url=f"https://marketplace.example.com:{listener.port}",
                                          credentials={"api_key": "SECRET-key-never-sent"}))
    with pytest.raises(ConfigurationError) as caught:
        backend.list_reasons()
    assert caught.value.code == "destination_refused"
    assert listener.received == b""


def test_guarded_session_refuses_loopback_unless_the_sandbox_is_on(settings, listener):
    settings.SANDBOX_ENABLED = False
    with pytest.raises(requests.ConnectionError) as caught:
        guarded_session().get(f"http://127.0.0.1:{listener.port}/", timeout=2)
    assert is_destination_refused(caught.value) and listener.received == b""
    settings.SANDBOX_ENABLED = True
    with pytest.raises(requests.RequestException):  # reaches the listener, which answers nothing
        guarded_session().get(f"http://127.0.0.1:{listener.port}/", timeout=0.5)
    assert listener.received.startswith(b"GET / HTTP/1.1")
