"""Inventory adjustments out as CSV/JSON with per-SKU totals, and marked exported (API, command, admin)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import call_command

from cancellations.models import Cancellation, InventoryAdjustment
from cancellations.services.inventory_export import CSV_COLUMNS, pending_sku_totals
from tests.factories import account_create, order_create

pytestmark = pytest.mark.django_db


def _adjustment(order, *, sku, quantity, restock=True, line_index=0):
    line = list(order.lines.order_by("pk"))[line_index]
    c = Cancellation.objects.create(line=line, account=order.account, quantity=quantity, reason_code="34",
                                    source="api", status="confirmed", restock=restock)
    return InventoryAdjustment.objects.create(account=order.account, cancellation=c, sku=sku, quantity=quantity,
                                              restock=restock)


@pytest.fixture
def adjustments(db):
    walmart = account_create(marketplace="walmart_ca", name="Walmart CA")
    mirakl = account_create(marketplace="mirakl", name="Best Buy")
    w_order = order_create(account=walmart, external_id="PO-1", lines=2)
    m_order = order_create(account=mirakl, external_id="M-9", lines=2)
    return [
        _adjustment(w_order, sku="SKU-A", quantity=2),
        _adjustment(m_order, sku="SKU-A", quantity=1),
        _adjustment(m_order, sku="SKU-B", quantity=3, restock=False, line_index=1),
        _adjustment(w_order, sku="=HYPERLINK()", quantity=1, line_index=1),
    ]


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_csv_has_one_row_per_adjustment_and_sku_restock_totals(api, adjustments):
    from tests.api.conftest import user_with

    client = api(user_with("reader", "view_inventoryadjustment"))
    answer = client.get("/api/inventory-adjustments/", {"status": "pending", "format": "csv"})
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/csv")
    text = answer.content.decode()
    assert text.splitlines()[0].split(",") == CSV_COLUMNS
    rows = _rows(text)
    assert [(r["account"], r["marketplace"], r["sku"], r["quantity"], r["restock"], r["order"],
             r["sku_restock_total"]) for r in rows] == [
        ("Walmart CA", "walmart_ca", "SKU-A", "2", "true", "PO-1", "3"),
        ("Best Buy", "mirakl", "SKU-A", "1", "true", "M-9", "3"),
        ("Best Buy", "mirakl", "SKU-B", "3", "false", "M-9", "0"),
        ("Walmart CA", "walmart_ca", "'=HYPERLINK()", "1", "true", "PO-1", "1"),  # never a formula
    ]
    assert rows[0]["cancellation"] == str(adjustments[0].cancellation_id) and rows[0]["line"] == "PO-1-1"
    assert rows[0]["created"].endswith("Z")
    only_mirakl = _rows(client.get("/api/inventory-adjustments/", {"format": "csv", "account": "Best Buy"}
                                   ).content.decode())
    assert [r["sku"] for r in only_mirakl] == ["SKU-A", "SKU-B"] and only_mirakl[0]["sku_restock_total"] == "1"


def test_mark_exported_is_idempotent_and_refuses_unknown_ids(api, adjustments):
    from tests.api.conftest import user_with

    client = api(user_with("feeder", "view_inventoryadjustment", "change_inventoryadjustment"))
    first = [adjustments[0].pk, adjustments[1].pk]
    assert client.post("/api/inventory-adjustments/mark-exported/", {"ids": first}, format="json").json() == {
        "marked": 2}
    stamped = dict(InventoryAdjustment.objects.filter(pk__in=first).values_list("pk", "exported_at"))
    again = client.post("/api/inventory-adjustments/mark-exported/", {"ids": first}, format="json")
    assert again.status_code == 200 and again.json() == {"marked": 0}
    assert dict(InventoryAdjustment.objects.filter(pk__in=first).values_list("pk", "exported_at")) == stamped
    unknown = client.post("/api/inventory-adjustments/mark-exported/", {"ids": [adjustments[2].pk, 999999]},
                          format="json")
    assert unknown.status_code == 400 and "999999" in str(unknown.json()["ids"])
    assert InventoryAdjustment.objects.get(pk=adjustments[2].pk).exported_at is None  # nothing changed
    for bad in ({}, {"ids": []}, {"ids": ["x"]}, {"ids": [True]}):
        answer = client.post("/api/inventory-adjustments/mark-exported/", bad, format="json")
        assert answer.status_code == 400 and "ids" in answer.json()
    pending = client.get("/api/inventory-adjustments/", {"status": "pending"}).json()["results"]
    assert sorted(a["id"] for a in pending) == sorted(a.pk for a in adjustments[2:])
    exported = client.get("/api/inventory-adjustments/", {"status": "exported"}).json()["results"]
    assert sorted(a["id"] for a in exported) == sorted(first)
    assert client.get("/api/inventory-adjustments/", {"status": "gone"}).status_code == 400


def test_mark_exported_needs_the_change_permission(api, adjustments):
    from tests.api.conftest import user_with

    client = api(user_with("reader", "view_inventoryadjustment"))
    answer = client.post("/api/inventory-adjustments/mark-exported/", {"ids": [adjustments[0].pk]}, format="json")
    assert answer.status_code == 403 and not InventoryAdjustment.objects.filter(exported_at__isnull=False).exists()


def test_the_command_prints_and_marks_exactly_what_it_printed(adjustments, capsys):
    call_command("export_inventory_adjustments", "--format", "json", "--account", "Walmart CA", "--mark-exported")
    out = json.loads(capsys.readouterr().out)
    assert sorted(a["id"] for a in out) == sorted([adjustments[0].pk, adjustments[3].pk])
    assert set(InventoryAdjustment.objects.filter(exported_at__isnull=False).values_list("pk", flat=True)) == {
        adjustments[0].pk, adjustments[3].pk}
    call_command("export_inventory_adjustments")  # csv, pending only
    rows = _rows(capsys.readouterr().out)
    assert [r["sku"] for r in rows] == ["SKU-A", "SKU-B"]
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=r"no account named 'nope'; accounts: .*'Walmart CA'") as info:
        call_command("export_inventory_adjustments", "--account", "nope")
    assert info.value.returncode == 2


def test_the_command_matches_account_names_in_any_case(adjustments, capsys):
    call_command("export_inventory_adjustments", "--format", "json", "--account", "walmart ca")
    assert sorted(a["id"] for a in json.loads(capsys.readouterr().out)) == sorted(
        [adjustments[0].pk, adjustments[3].pk])


def test_pending_sku_totals(adjustments):
    InventoryAdjustment.objects.filter(pk=adjustments[3].pk).update(exported_at="2026-01-01T00:00:00Z")
    totals = {t.sku: t for t in pending_sku_totals()}
    assert set(totals) == {"SKU-A", "SKU-B"}
    assert (totals["SKU-A"].restock, totals["SKU-A"].not_restocked, totals["SKU-A"].accounts) == (3, 0, 2)
    assert (totals["SKU-B"].restock, totals["SKU-B"].not_restocked, totals["SKU-B"].adjustments) == (0, 3, 1)


def test_admin_action_exports_csv_and_marks(admin_client, adjustments):
    chosen = [adjustments[1].pk, adjustments[2].pk]
    answer = admin_client.post("/admin/cancellations/inventoryadjustment/", {
        "action": "export_csv_and_mark_exported", "_selected_action": chosen})
    assert answer.status_code == 200 and answer["Content-Disposition"].startswith("attachment")
    assert [r["sku"] for r in _rows(answer.content.decode())] == ["SKU-A", "SKU-B"]
    assert set(InventoryAdjustment.objects.filter(exported_at__isnull=False).values_list("pk", flat=True)) == set(
        chosen)


def test_dashboard_shows_per_sku_totals(admin_client, adjustments):
    page = admin_client.get("/admin/").content.decode()
    assert 'id="inventory-sku-panel"' in page and "SKU-A" in page and "SKU-B" in page
