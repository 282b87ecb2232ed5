"""The manage.py commands call the same services; bad input exits non-zero and changes nothing."""

from __future__ import annotations

import json
from io import StringIO

import pytest
import responses
from django.core.management import CommandError, call_command

from cancellations.marketplaces.base import PermanentError
from cancellations.models import Cancellation, MarketplaceCall
from tests.services.conftest import fake, mirakl_account, mirakl_order  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


def _run(*args) -> tuple[str, int]:
    out = StringIO()
    try:
        call_command(*args, stdout=out, stderr=StringIO())
    except CommandError as exc:
        return out.getvalue() + str(exc), exc.returncode
    return out.getvalue(), 0


@pytest.mark.django_db(transaction=True)  # real commits: dispatch runs on commit, before the report
def test_cancel_lines_confirms_and_exits_zero(fake, mirakl_order):  # noqa: F811
    out, code = _run("cancel_lines", "--account", "bestbuy", "--order", "M-1", "--line", "M-1-1:2",
                     "--line", "M-1-2", "--reason", "34", "--json")
    assert code == 0, out
    rows = json.loads(out)["cancellations"]
    assert [(r["line"], r["quantity"], r["status"]) for r in rows] == [("M-1-1", 2, "confirmed"),
                                                                       ("M-1-2", 1, "confirmed")]
    assert len(fake.sent) == 1


@responses.activate  # the real backend builds the request; any attempt to send it would fail here
def test_dry_run_shows_the_exact_call_and_stores_nothing(mirakl_order):  # noqa: F811
    out, code = _run("cancel_lines", "--account", "bestbuy", "--order", "M-1", "--line", "M-1-1:1",
                     "--reason", "customer_request", "--dry-run", "--json")
    assert code == 0
    (call,) = json.loads(out)["calls"]
    row = call["lines"][0]
    assert (row["line"], row["quantity"], row["reason_code"], row["amount"], row["shipping_amount"]) == (
        "M-1-1", 1, "34", "10.00", "1.00")
    assert (call["method"], call["url"]) == ("PUT", "https://marketplace.example.com/api/orders/cancel")
    assert json.loads(call["body"])["cancelations"][0]["amount"] == 10.0  # the exact OR30 body
    assert Cancellation.objects.count() == 0 and MarketplaceCall.objects.count() == 0 and not responses.calls


@responses.activate
def test_dry_run_of_a_walmart_order_shows_one_xml_call_for_its_lines(db):
    from tests.factories import account_create, order_create

    account = account_create(marketplace="walmart_ca", name="wm", options={"auth": "signature"}, credentials={
        "auth": "signature", "consumer_id": "c", "channel_type": "t", "private_key": "not needed to build"})
    order_create(account=account, external_id="PO-9", lines=2)
    out, code = _run("cancel_lines", "--account", "wm", "--order", "PO-9", "--line", "PO-9-1", "--line",
                     "PO-9-2:1", "--reason", "CANCEL_BY_SELLER", "--dry-run")
    assert code == 0, out
    assert "1 call(s) would be made" in out and "POST https://marketplace.example.com/v3/ca/orders/PO-9/cancel" in out
    assert out.count("<lineNumber>") == 2 and "<cancellationReason>CANCEL_BY_SELLER</cancellationReason>" in out
    assert not responses.calls


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--line", "M-1-1:0"], "positive whole number"),
        (["--line", "M-1-1:-1"], "positive whole number"),
        (["--line", "M-1-1:x"], "positive whole number"),
        (["--line", "M-1-1:9"], "At most 3 unit(s)"),
        (["--line", "NOPE"], "no line NOPE"),
        (["--line", "M-1-1", "--reason", "99"], "not a valid cancellation reason"),
    ],
)
def test_bad_input_exits_non_zero_and_changes_nothing(fake, mirakl_order, args, expected):  # noqa: F811
    base = ["cancel_lines", "--account", "bestbuy", "--order", "M-1"]
    if "--reason" not in args:
        args = [*args, "--reason", "34"]
    out, code = _run(*base, *args)
    assert code == 2 and expected in out
    assert Cancellation.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_rejection_exits_non_zero_with_the_marketplace_message(fake, mirakl_order):  # noqa: F811
    fake.script = [PermanentError("Order line is not cancellable", code="ORDER_STATE")]
    out, code = _run("cancel_lines", "--account", "bestbuy", "--order", "M-1", "--line", "M-1-1:1",
                     "--reason", "34")
    assert code == 1 and "rejected error=ORDER_STATE: Order line is not cancellable" in out


def test_retry_and_dispatch_commands(fake, mirakl_order, django_capture_on_commit_callbacks):  # noqa: F811
    fake.script = [PermanentError("temporary business hold", code="HOLD")]
    with django_capture_on_commit_callbacks(execute=True):
        _run("cancel_lines", "--account", "bestbuy", "--order", "M-1", "--line", "M-1-1:1", "--reason", "34")
    out, _ = _run("retry_cancellations")  # only failed by default: the rejected one stays
    assert "retried=0" in out
    with django_capture_on_commit_callbacks(execute=False):
        out, _ = _run("retry_cancellations", "--include-rejected")
    assert "retried=1" in out
    out, code = _run("dispatch_cancellations")
    assert code == 0 and "sent=1" in out
    assert Cancellation.objects.get().status == "confirmed"


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        ("2026-11-10", "2026-11-10T05:00:00+00:00"),  # a date: its midnight in TIME_ZONE
        ("2026-11-10T08:30:00", "2026-11-10T13:30:00+00:00"),  # naive: in TIME_ZONE
        ("2026-11-01T08:30:00Z", "2026-11-01T08:30:00+00:00"),
        ("2026-11-01T08:30:00-07:00", "2026-11-01T15:30:00+00:00"),
    ],
)
def test_sync_orders_since_takes_a_date_a_naive_or_an_aware_time(settings, monkeypatch, mirakl_account, since,  # noqa: F811
                                                                 expected):
    from datetime import UTC

    from cancellations.management.commands import sync_orders
    from cancellations.services.orders_sync import SyncReport

    settings.TIME_ZONE = "America/Toronto"
    seen = []
    monkeypatch.setattr(sync_orders, "orders_sync",
                        lambda *, account, since: seen.append(since) or SyncReport(account=account.name))
    out, code = _run("sync_orders", "--account", "BESTBUY", "--since", since)
    assert code == 0, out
    assert seen[0].astimezone(UTC).isoformat() == expected


def test_sync_orders_bad_input_names_the_value_and_the_accounts(mirakl_account):  # noqa: F811
    out, code = _run("sync_orders", "--since", "yesterday")
    assert code == 2 and "'yesterday' is not a date" in out
    out, code = _run("sync_orders", "--account", "Nope", "--json")
    assert code == 2
    error = json.loads(out[: out.rindex("}") + 1])["errors"][0]
    assert error["field"] == "--account" and "no account named 'Nope'; accounts: 'bestbuy'" in error["message"]


def test_cancel_lines_errors_name_what_the_user_typed(fake, mirakl_order):  # noqa: F811
    base = ["cancel_lines", "--account", "BestBuy", "--order", "M-1", "--reason", "34"]
    out, code = _run(*base, "--line", "M-1-1:9")
    assert code == 2 and "line M-1-1: quantity: At most 3 unit(s)" in out
    out, code = _run(*base, "--line", "M-1-1:9", "--json")
    assert code == 2 and json.loads(out[: out.rindex("}") + 1])["errors"][0]["line"] == "M-1-1"
    out, code = _run("cancel_lines", "--account", "bestbuy", "--order", "M-9", "--line", "1", "--reason", "34")
    assert code == 2 and "no such order 'M-9' on bestbuy" in out
    out, code = _run(*base, "--line", "M-1-7")
    assert code == 2 and "no line M-1-7 on order M-1 (its lines: M-1-1, M-1-2)" in out
    out, code = _run("cancel_lines", "--account", "Walmart", "--order", "M-1", "--line", "1", "--reason", "34",
                     "--json")
    assert code == 2
    assert json.loads(out[: out.rindex("}") + 1]) == {"errors": [{
        "field": "--account", "message": "no account named 'Walmart'; accounts: 'bestbuy'"}], "exit_code": 2}
    assert Cancellation.objects.count() == 0


def test_retry_says_why_it_did_nothing(fake, mirakl_order, django_capture_on_commit_callbacks):  # noqa: F811
    out, code = _run("retry_cancellations", "999")
    assert code == 2 and "no such cancellation: #999" in out
    out, code = _run("retry_cancellations")
    assert code == 0 and "Nothing to retry: no failed cancellation (rejected ones need --include-rejected)" in out
    with django_capture_on_commit_callbacks(execute=True):
        _run("cancel_lines", "--account", "bestbuy", "--order", "M-1", "--line", "M-1-1:1", "--reason", "34")
    confirmed = Cancellation.objects.get()
    out, code = _run("retry_cancellations", str(confirmed.pk), "--json")
    assert code == 1
    assert json.loads(out[: out.rindex("}") + 1])["refused"] == [{
        "id": confirmed.pk, "line": "M-1-1", "retried": False,
        "reason": "Only failed or rejected cancellations can be retried; this one is confirmed."}]


def test_dispatch_loop_says_it_started_and_what_it_does_idle(db, monkeypatch):
    from cancellations.management.commands import dispatch_cancellations

    def interrupt(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(dispatch_cancellations.time, "sleep", interrupt)
    out, code = _run("dispatch_cancellations", "--loop", "--interval", "2")
    assert code == 0
    assert "Sweeper started: every 2 s" in out and "Idle: nothing due; checking again every 2 s." in out
    out, code = _run("dispatch_cancellations")
    assert code == 0 and "Nothing was due." in out
