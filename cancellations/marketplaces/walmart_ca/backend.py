"""Walmart Canada: the Global API (OAuth, ``WM_MARKET: ca``, JSON) and the legacy signature mode.

* ``oauth`` (Global API, ``/v3/...``): see ``walmart_global``. New accounts use it.
* ``signature`` (legacy CA API, ``/v3/ca/...``, XML): every request carries an RSA signature over the exact URL,
  method and a millisecond timestamp (see ``signing``). Walmart says it is no longer supported for Canada; it
  stays for accounts still configured with it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from django.views.decorators.debug import sensitive_variables

from ..base import AccountConfig, ConfigurationError, ExchangeCallback, LineCancel
from ..walmart_global import AUTH_OAUTH, SERVICE_NAME, WalmartGlobalBackend
from . import codec as wx
from .signing import private_key_cached, sign
from .spec import AUTH_SIGNATURE, SPEC

#: The cancellation reasons Walmart Canada documents (code → label).
WALMART_CA_REASONS: dict[str, str] = {r.code: r.label for r in SPEC.fixed_reasons}
XML = "application/xml"


class WalmartCABackend(WalmartGlobalBackend):
    marketplace: ClassVar[str] = "walmart_ca"
    market: ClassVar[str] = "ca"
    spec = SPEC

    def __init__(self, account: AccountConfig, *, on_exchange: ExchangeCallback | None = None,
                 timeout: tuple[float, float] | None = None) -> None:
        super().__init__(account, on_exchange=on_exchange, timeout=timeout)
        mode = account.options.get("auth") or account.credentials.get("auth") or SPEC.unnamed_auth
        if mode not in (AUTH_SIGNATURE, AUTH_OAUTH):
            raise ConfigurationError(f"Walmart auth must be 'signature' or 'oauth', got {mode!r}")
        self.auth_mode: str = mode
        self._private_key: RSAPrivateKey | None = None

    # --- the legacy wire in signature mode -----------------------------------------------------------

    def _orders_root(self) -> str:
        return "/v3/ca/orders" if self.auth_mode == AUTH_SIGNATURE else super()._orders_root()

    def _cancel_body(self, lines: Sequence[LineCancel]) -> str:
        return wx.cancel_body_xml(lines) if self.auth_mode == AUTH_SIGNATURE else super()._cancel_body(lines)

    def _parse(self, body: bytes, kind: str) -> Any:
        if self.auth_mode != AUTH_SIGNATURE:
            return super()._parse(body, kind)
        return wx.order_from_xml(body) if kind == "order" else wx.orders_page_from_xml(body)

    @sensitive_variables("signature")
    def _auth_headers(self, url: str, method: str, correlation_id: str) -> dict[str, str]:
        if self.auth_mode != AUTH_SIGNATURE:
            return super()._auth_headers(url, method, correlation_id)
        consumer_id = self._credential("consumer_id")
        channel_type = self._credential("channel_type")
        if self._private_key is None:
            self._private_key = private_key_cached(self._credential("private_key"))
        timestamp = str(int(time.time() * 1000))
        signature = sign(consumer_id=consumer_id, url=url, method=method, timestamp_ms=timestamp,
                         private_key=self._private_key)
        return {
            "WM_CONSUMER.ID": consumer_id,
            "WM_CONSUMER.CHANNEL.TYPE": channel_type,
            "WM_QOS.CORRELATION_ID": correlation_id,
            "WM_SEC.TIMESTAMP": timestamp,
            "WM_SEC.AUTH_SIGNATURE": signature,
            "WM_SVC.NAME": SERVICE_NAME,
            "Accept": XML,
        }
