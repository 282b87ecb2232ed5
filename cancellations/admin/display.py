"""Small HTML helpers shared by the model admins: bodies as exchanged, badges, links between objects."""

from __future__ import annotations

import json
from typing import Any

from defusedxml import minidom
from django.db.models import Model
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

STATUS_COLOURS = {
    "pending": "#6c757d",
    "sending": "#0d6efd",
    "retry_scheduled": "#fd7e14",
    "verifying": "#6f42c1",
    "confirmed": "#198754",
    "rejected": "#dc3545",
    "failed": "#b02a37",
    "needs_attention": "#d63384",
}
_PRE_STYLE = "white-space: pre-wrap; max-height: 30em; overflow: auto; margin: 0;"


class _Number(str):
    """A JSON number kept as the text it was written with (``10.00`` stays ``10.00``, never ``10.0``)."""


class _Pairs(list):
    """A JSON object as its (key, value) pairs, in order."""


def _json_exact(value: Any, indent: str = "") -> str:
    """Indented JSON written from the parsed pairs: key order, duplicate keys and number digits as received."""
    inner = indent + "  "
    if isinstance(value, _Number):
        return str(value)
    if isinstance(value, _Pairs):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {_json_exact(v, inner)}" for k, v in value]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(f"{inner}{_json_exact(v, inner)}" for v in value) + f"\n{indent}]"
    return json.dumps(value, ensure_ascii=False)


def pretty_text(value: Any) -> str:
    """JSON or XML indented for reading, from the exact text (numbers, key order and values untouched);
    anything else unchanged."""
    if value in (None, "", {}, []):
        return ""
    if not isinstance(value, str):  # stored structures (headers, taxes): our own data, plain indented JSON
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    stripped = value.strip()
    if stripped[:1] in "{[":
        try:
            parsed = json.loads(stripped, parse_float=_Number, parse_int=_Number, object_pairs_hook=_Pairs)
        except (ValueError, RecursionError):
            return value
        return _json_exact(parsed)
    if stripped.startswith("<"):
        try:
            pretty = minidom.parseString(stripped).toprettyxml(indent="  ")
        except Exception:  # a malformed or hostile body is shown as received
            return value
        return "\n".join(line for line in pretty.splitlines() if line.strip())
    return value


def pre(value: Any) -> str:
    text = pretty_text(value)
    return format_html('<pre style="{}">{}</pre>', _PRE_STYLE, text) if text else "—"


def body(value: str | None) -> str:
    """A body as exchanged: pretty-printed from the exact text, and the exact text itself one click away."""
    if not value:
        return "—"
    pretty = pretty_text(value)
    if pretty == value:
        return pre(value)
    return format_html('<pre style="{}">{}</pre><details><summary>Exactly as exchanged ({} bytes)</summary>'
                       '<pre style="{}">{}</pre></details>', _PRE_STYLE, pretty, len(value.encode()), _PRE_STYLE,
                       value)


def status_badge(status: str, label: str) -> str:
    colour = STATUS_COLOURS.get(status, "#6c757d")
    return format_html(
        '<span class="cancellation-status status-{}" style="background:{};color:#fff;padding:2px 8px;'
        'border-radius:10px;white-space:nowrap;">{}</span>',
        status, colour, label,
    )


def http_badge(status_code: int | None, fallback: str) -> str:
    """An HTTP answer at a glance: green 2xx, orange 429, red other 4xx/5xx, grey when there was none."""
    if status_code is None:
        colour, text = "#6c757d", fallback
    else:
        colour = "#198754" if status_code < 300 else "#fd7e14" if status_code == 429 else "#dc3545"
        text = str(status_code)
    return format_html('<span class="http-status" style="background:{};color:#fff;padding:1px 7px;'
                       'border-radius:10px;white-space:nowrap;">{}</span>', colour, text)


def admin_link(obj: Model | None, text: Any = None) -> str:
    """A link to ``obj``'s admin page (its ``str`` unless ``text`` is given)."""
    if obj is None:
        return "—"
    meta = obj._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, obj if text is None else text)


def changelist_link(model: type[Model], text: Any, **params: Any) -> str:
    """A link to ``model``'s admin list filtered by ``params``."""
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return format_html('<a href="{}?{}">{}</a>', url, urlencode(params), text)


def shorten(text: str, limit: int = 90) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
