"""Accounts wired to the built-in sandbox on the live server, synced through the real backends."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from cancellations.marketplaces.registry import spec_for
from cancellations.models import MarketplaceAccount, Order
from cancellations.sandbox import mirakl as mirakl_sandbox
from cancellations.sandbox.models import SandboxFault, SandboxRequest
from cancellations.sandbox.provision import seller_register, walmart_private_key_generate
from cancellations.services import orders_sync


def sandbox_account(live_server, *, name: str, marketplace: str, credentials: dict, options: dict,
                    seed) -> MarketplaceAccount:
    account = MarketplaceAccount.objects.create(
        name=name, marketplace=marketplace, base_url=f"{live_server.url}/sandbox/{spec_for(marketplace).sandbox_path}",
        credentials=credentials, options=options,
    )
    seller = seller_register(marketplace=marketplace, credentials=credentials, options=options)
    seed(seller)
    account.sandbox_seller = seller
    orders_sync(account=account)
    return account


@pytest.fixture
def mirakl_live(live_server, transactional_db):
    return sandbox_account(live_server, name="bestbuy", marketplace="mirakl",
                           credentials={"api_key": secrets.token_urlsafe(16)}, options={"shop_id": "2001"},
                           seed=mirakl_sandbox.orders_seed)


def walmart_credentials(mode: str) -> tuple[dict, dict]:
    if mode == "oauth":
        return ({"auth": "oauth", "client_id": f"client-{uuid.uuid4().hex[:8]}",
                 "client_secret": secrets.token_urlsafe(16)}, {"auth": "oauth"})
    return ({"auth": "signature", "consumer_id": str(uuid.uuid4()), "channel_type": str(uuid.uuid4()),
             "private_key": walmart_private_key_generate()}, {"auth": "signature"})


@pytest.fixture(params=["signature", "oauth"])
def walmart_live(request, live_server, transactional_db):
    from cancellations.sandbox import walmart as walmart_sandbox

    credentials, options = walmart_credentials(request.param)
    return sandbox_account(live_server, name=f"walmart-{request.param}", marketplace="walmart_ca",
                           credentials=credentials, options=options, seed=walmart_sandbox.orders_seed)


def fault_add(account: MarketplaceAccount, kind: str, *, operation: str = "cancel", remaining: int = 1,
              **params) -> SandboxFault:
    return SandboxFault.objects.create(seller=account.sandbox_seller, marketplace=account.marketplace,
                                       operation=operation, kind=kind, params=params, remaining=remaining)


def cancel_calls_received(account: MarketplaceAccount) -> int:
    """Cancel requests the sandbox received for this account (what the marketplace really saw)."""
    return SandboxRequest.objects.filter(seller=account.sandbox_seller, operation="cancel").count()


def lines_of(account: MarketplaceAccount, order_id: str):
    return list(Order.objects.get(account=account, external_id=order_id).lines.order_by("external_id"))


@contextlib.contextmanager
def celery_worker_run(*, broker_url: str, queues: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """A real `celery worker` (thread pool, as the Procfile runs it) on the test database and ``queues``;
    terminated afterwards, its output's tail printed for a failing test's report."""
    db = connection.settings_dict
    database_url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "backoffice", "worker", "--pool", "threads", "--concurrency", "4",
         "--queues", ",".join(queues), "--without-mingle", "--without-gossip", "--loglevel", "INFO"],
        cwd=Path(__file__).resolve().parents[2], text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "DATABASE_URL": database_url, "CELERY_BROKER_URL": broker_url, **env},
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            output, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
        print(output[-4000:])
