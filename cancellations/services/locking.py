"""Row-lock options that depend on the database."""

from __future__ import annotations

from django.db import connection


def skip_locked() -> dict:
    """``select_for_update`` kwargs to skip rows another worker holds (PostgreSQL); nothing on SQLite."""
    return {"skip_locked": True} if connection.features.has_select_for_update_skip_locked else {}
