"""Where a marketplace call may go: a connect-time guard against requests to internal addresses (SSRF).

``validate_base_url`` checks an account's URL when it is saved, but a host name can resolve to anything later
(DNS rebinding, a metadata alias such as ``metadata.google.internal``). This guard checks the address a socket
actually connected to, for every connection of a marketplace session: loopback, private, link-local,
multicast, reserved and other non-global addresses are refused unless ``SANDBOX_ENABLED`` (the built-in
sandbox and the tests run on loopback).

Use: ``guarded_session()`` for a new ``requests.Session``, or ``mount_guard(session)`` on an existing one
(``http_sessions.session_new`` does it, so every marketplace session is guarded). A refused connection raises
``DestinationRefused``; ``is_destination_refused(exc)`` finds it inside the ``requests`` error that wraps it.
"""

from __future__ import annotations

import ipaddress
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

LOOPBACK_NAMES = ("localhost", "*.localhost")
MAX_BASE_URL_LENGTH = 200


class BaseUrlError(ValueError):
    """A base URL marketplace calls may not use; the message says why (and never contains a secret)."""


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def host_allowed(host: str) -> bool:
    """Whether ``host`` matches a pattern of ``MARKETPLACE_ALLOWED_HOSTS`` ("*" matches any host)."""
    host = host.lower().rstrip(".")
    return any(p == "*" or fnmatchcase(host, p.lower()) for p in settings.MARKETPLACE_ALLOWED_HOSTS)


def base_url_validate(base_url: str) -> str:
    """An account's base URL as a host root, or ``BaseUrlError`` naming the reason. No trailing slash.

    https only, no user info, query or fragment, no path, a public host on the allow-list. A loopback host (with
    plain http and a path such as the sandbox's ``/sandbox/<marketplace>``) only while ``SANDBOX_ENABLED``.
    """
    if not isinstance(base_url, str) or len(base_url) > MAX_BASE_URL_LENGTH:
        raise BaseUrlError(f"base_url must be a URL of at most {MAX_BASE_URL_LENGTH} characters.")
    try:
        parts = urlsplit(base_url.strip())
        host, _ = parts.hostname, parts.port
    except ValueError:
        raise BaseUrlError("base_url is not a valid URL.") from None
    if not host:
        raise BaseUrlError("base_url must be an https URL naming a host.")
    ip = _ip(host)
    # The sandbox (on loopback) is the only place for plain http and a path.
    sandbox = settings.SANDBOX_ENABLED and (
        any(fnmatchcase(host, name) for name in LOOPBACK_NAMES) or (ip is not None and ip.is_loopback))
    if parts.scheme != "https" and not (sandbox and parts.scheme == "http"):
        raise BaseUrlError("base_url must use https (http only for the sandbox on a loopback host).")
    if "@" in parts.netloc:
        raise BaseUrlError("base_url must not contain a user name or password.")
    if parts.query or parts.fragment or "?" in base_url or "#" in base_url:
        raise BaseUrlError("base_url must not contain a query (?) or a fragment (#).")
    if parts.path.rstrip("/") and not sandbox:
        raise BaseUrlError("base_url must be the marketplace's host root (no path).")
    if ip is not None and not sandbox and address_forbidden(str(ip)):
        raise BaseUrlError("base_url must not point to a loopback, private, link-local or reserved address.")
    if not sandbox and not host_allowed(host):
        raise BaseUrlError(f"base_url's host {host} is not an allowed marketplace host (MARKETPLACE_ALLOWED_HOSTS).")
    return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")


class DestinationRefused(OSError):
    """The connection reached an address marketplace calls may not go to."""


def address_forbidden(address: str) -> bool:
    """True for addresses that are not on the public internet (or are multicast)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_multicast or not ip.is_global


def _check_peer(sock) -> None:
    if settings.SANDBOX_ENABLED:
        return
    peer = sock.getpeername()[0]
    if address_forbidden(peer):
        sock.close()
        raise DestinationRefused(f"refused to connect to {peer}: not a public address (loopback, private, "
                                 "link-local, multicast or reserved)")


class GuardedHTTPConnection(HTTPConnection):
    def _new_conn(self):
        sock = super()._new_conn()
        _check_peer(sock)
        return sock


class GuardedHTTPSConnection(HTTPSConnection):
    def _new_conn(self):  # TLS is set up on this socket afterwards, so nothing is sent before the check
        sock = super()._new_conn()
        _check_peer(sock)
        return sock


class GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections check the connected address before anything is sent."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": GuardedHTTPConnectionPool,
                                                   "https": GuardedHTTPSConnectionPool}


def mount_guard(session: requests.Session) -> requests.Session:
    """Route every http(s) connection of ``session`` through the guard; returns the session."""
    adapter = GuardedAdapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def guarded_session() -> requests.Session:
    return mount_guard(requests.Session())


def is_destination_refused(exc: BaseException) -> bool:
    """Whether ``exc`` (a requests/urllib3 error) was caused by the guard refusing the address."""
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, DestinationRefused):
            return True
        stack += [item.__cause__, item.__context__, getattr(item, "reason", None), *item.args]
    return False
