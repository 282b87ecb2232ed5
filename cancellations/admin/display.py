"""Small HTML helpers shared by the model admins: pretty payloads and status badges."""

from __future__ import annotations

import json
from typing import Any

from defusedxml import minidom
from django.utils.html import format_html

STATUS_COLOURS = {
    "pending": "#6c757d",
    "sending": "#0d6efd",
    "retry_scheduled": "#fd7e14",
    "verifying": "#6f42c1",
    "confirmed": "#198754",
    "rejected": "#dc3545",
    "failed": "#b02a37",
}
_PRE_STYLE = "white-space: pre-wrap; max-height: 30em; overflow: auto; margin: 0;"


def pretty_text(value: Any) -> str:
    """JSON or XML indented for reading; anything else unchanged."""
    if value in (None, "", {}, []):
        return ""
    if not isinstance(value, str):
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    stripped = value.strip()
    if stripped[:1] in "{[":
        try:
            return json.dumps(json.loads(stripped), indent=2, sort_keys=True, ensure_ascii=False)
        except ValueError:
            return value
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


def status_badge(status: str, label: str) -> str:
    colour = STATUS_COLOURS.get(status, "#6c757d")
    return format_html(
        '<span class="cancellation-status status-{}" style="background:{};color:#fff;padding:2px 8px;'
        'border-radius:10px;white-space:nowrap;">{}</span>',
        status, colour, label,
    )
