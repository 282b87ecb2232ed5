"""Quiet logs: sandbox answers are not server errors, each line is printed once, no Celery chatter."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest


@pytest.mark.django_db
def test_sandbox_error_answers_are_not_logged_as_server_errors(client, caplog):
    with caplog.at_level(logging.INFO):
        answer = client.get("/sandbox/mirakl/api/orders")  # no API key: the sandbox answers 401 on purpose
        assert answer.status_code == 401
        assert not [r for r in caplog.records if r.name == "django.request"]
        assert client.get("/api/no-such-thing/").status_code == 404  # our own 4xx still logs
    assert [r.getMessage() for r in caplog.records if r.name == "django.request"] == ["Not Found: /api/no-such-thing/"]


def test_each_django_line_is_printed_once_and_celery_successes_not_at_all():
    assert logging.getLogger("django").handlers == []  # Django's own console handler would print it twice
    assert not logging.getLogger("celery.app.trace").isEnabledFor(logging.INFO)
    assert logging.getLogger("celery.app.trace").isEnabledFor(logging.ERROR)


@pytest.mark.django_db
def test_a_favicon_is_served_and_named_by_the_admin(admin_client):
    from django.contrib.staticfiles import finders

    answer = admin_client.get("/favicon.ico")
    assert (answer.status_code, answer["Location"]) == (301, "/static/cancellations/favicon.svg")
    assert "<svg" in Path(finders.find("cancellations/favicon.svg")).read_text()
    assert '<link rel="icon" type="image/svg+xml" href="/static/cancellations/favicon.svg">' in (
        admin_client.get("/admin/").content.decode())
