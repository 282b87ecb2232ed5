"""HTTP sessions kept per worker thread and account, so consecutive calls reuse a kept-alive connection.

A fresh session per call paid a TCP (and, against a real marketplace, TLS) handshake every time. Sessions are
per thread because a ``requests.Session`` is not meant to be shared by threads; per account (name and base URL)
so connections to one marketplace host are never lent to another account. Cookies are refused: marketplace APIs
authenticate every request, and nothing one account's answers set may travel with another's requests.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from http.cookiejar import DefaultCookiePolicy

import requests

from ..netguard import mount_guard

USER_AGENT = "marketplace-backoffice/0.1"
#: Accounts' sessions one thread keeps; the least recently used is closed beyond that.
SESSIONS_PER_THREAD = 64

_local = threading.local()


def session_new(base_url: str | None = None) -> requests.Session:
    """A session as every marketplace call uses it (the one place it is made).

    With ``base_url``, what ``requests`` would otherwise look up in the environment before every request
    (proxies for that host, a CA bundle) is read once here: the lookup cost more CPU than the rest of a call
    on a kept-alive connection.
    """
    session = mount_guard(requests.Session())  # connections to internal addresses are refused (netguard)
    session.headers["User-Agent"] = USER_AGENT
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    if base_url:
        session.proxies.update(requests.utils.get_environ_proxies(base_url))
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            session.verify = bundle
        session.trust_env = False
    return session


def session_for(account_key: tuple[str, str]) -> requests.Session:
    """This thread's session for ``account_key`` (account name, base URL), made on first use."""
    sessions: OrderedDict[tuple[str, str], requests.Session] | None = getattr(_local, "sessions", None)
    if sessions is None:
        sessions = _local.sessions = OrderedDict()
    session = sessions.get(account_key)
    if session is None:
        session = sessions[account_key] = session_new(account_key[1])
        while len(sessions) > SESSIONS_PER_THREAD:
            sessions.popitem(last=False)[1].close()
    else:
        sessions.move_to_end(account_key)
    return session


def sessions_close() -> None:
    """Close this thread's sessions and their connections."""
    sessions = getattr(_local, "sessions", None) or {}
    while sessions:
        sessions.popitem()[1].close()
