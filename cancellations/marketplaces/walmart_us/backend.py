"""Walmart US: the shared Global API client with ``WM_MARKET: us`` (OAuth only, JSON)."""

from __future__ import annotations

from typing import ClassVar

from ..walmart_global import WalmartGlobalBackend
from .spec import SPEC


class WalmartUSBackend(WalmartGlobalBackend):
    marketplace: ClassVar[str] = "walmart_us"
    market: ClassVar[str] = "us"
    spec = SPEC
