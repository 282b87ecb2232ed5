"""Issue 8 §8: every secret and token the sandbox issued, searched for everywhere: zero hits.

Over real sockets with the sandbox: the three account kinds sync and cancel (with faults), then every admin
page (changelists and change pages of every model), every API GET answer, every stored column of the app's
tables (raw, as the database holds them) and every log record are searched for the API key, the client secret,
its Basic header, the private key, every access token issued and every request signature made.
"""

from __future__ import annotations

import base64
import logging

import pytest
from django.contrib import admin
from django.db import connection
from django.urls import reverse

from cancellations.api.urls import router
from cancellations.marketplaces import walmart_global
from cancellations.marketplaces.walmart_ca import backend as walmart_backend
from cancellations.models import MarketplaceAccount
from cancellations.sandbox import mirakl as mirakl_sandbox
from cancellations.sandbox import walmart as walmart_sandbox
from cancellations.services import LineRequest, cancellation_request, cancellations_sweep
from tests.integration.conftest import fault_add, lines_of, sandbox_account, walmart_credentials

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def signatures(monkeypatch):
    made: list[str] = []
    real = walmart_backend.sign

    def sign(**kwargs):
        made.append(real(**kwargs))
        return made[-1]

    monkeypatch.setattr(walmart_backend, "sign", sign)
    return made


@pytest.fixture
def tokens(monkeypatch):
    issued: list[str] = []
    real = walmart_global._TOKENS.put

    def put(key, token, expires_in):
        issued.append(token)
        return real(key, token, expires_in)

    monkeypatch.setattr(walmart_global._TOKENS, "put", put)
    return issued


def _exercise(live_server) -> list[MarketplaceAccount]:
    import secrets

    mirakl = sandbox_account(live_server, name="bestbuy", marketplace="mirakl",
                             credentials={"api_key": secrets.token_urlsafe(24)}, options={"shop_id": "2001"},
                             seed=mirakl_sandbox.orders_seed)
    accounts = [mirakl]
    for mode in ("signature", "oauth"):
        credentials, options = walmart_credentials(mode)
        accounts.append(sandbox_account(live_server, name=f"walmart-{mode}", marketplace="walmart_ca",
                                        credentials=credentials, options=options, seed=walmart_sandbox.orders_seed))
    plans = {mirakl.pk: ("BBY-1002-A", "21")}
    for account in accounts:
        order_id, reason = plans.get(account.pk, ("5801000000066", "CANCEL_BY_SELLER"))
        line = lines_of(account, order_id)[0]
        for kind in ("drop_after_apply", "unauthorized"):  # a confirmed read-back, an account error
            fault_add(account, kind)
            cancellation_request(lines=[LineRequest(line_id=line.pk, quantity=1)], reason=reason, source="api")
            cancellations_sweep()
    return accounts


def _secrets(accounts, signatures, tokens) -> list[str]:
    found = []
    for account in accounts:
        creds = account.credentials
        for key in ("api_key", "client_secret", "private_key"):
            if creds.get(key):
                found.append(creds[key])
        if creds.get("client_secret"):
            found.append(base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode()).decode())
        if creds.get("private_key"):
            found.append(creds["private_key"][40:100])  # any long piece of the key
    found += signatures + tokens
    assert signatures and tokens, "the flow made signed and token-authenticated calls"
    return [s for s in found if s and len(s) >= 12]


def _admin_pages(client) -> dict[str, str]:
    pages = {}
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        pages[url] = client.get(url).content.decode()
        for obj in model_admin.get_queryset(_request(client))[:5]:
            change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
            pages[change] = client.get(change).content.decode()
    pages["/admin/"] = client.get("/admin/").content.decode()
    return pages


def _request(client):
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = client.user
    return request


def _api_answers(client) -> dict[str, str]:
    answers = {}
    for pattern in router.urls:
        actions = getattr(pattern.callback, "actions", {})
        if "get" not in actions:
            continue
        path = str(pattern.pattern).strip("^$")
        if "(?P<pk>" not in path:
            answers[path] = client.get(f"/api/{path}").content.decode()
    for base in ("accounts", "orders", "cancellations"):
        for item in client.get(f"/api/{base}/?limit=200").json()["results"]:
            answers[f"{base}/{item['id']}"] = client.get(f"/api/{base}/{item['id']}/").content.decode()
    return answers


def _stored_columns() -> str:
    dump = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            if table.startswith("cancellations_"):
                cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (table names from introspection)
                dump += [repr(row) for row in cursor.fetchall()]
    return "\n".join(dump)


def test_no_secret_anywhere(live_server, client, caplog, signatures, tokens):
    from django.contrib.auth import get_user_model

    caplog.set_level(logging.DEBUG)
    accounts = _exercise(live_server)
    secrets = _secrets(accounts, signatures, tokens)
    user = get_user_model().objects.create_superuser("scan", "scan@example.com", "x")
    client.force_login(user)
    client.user = user
    surfaces = {**_admin_pages(client), **{f"api:{k}": v for k, v in _api_answers(client).items()}}
    surfaces["stored columns"] = _stored_columns()
    surfaces["logs"] = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert len(surfaces) > 40
    hits = [(name, secret[:6] + "…") for name, text in surfaces.items() for secret in secrets if secret in text]
    assert hits == []
