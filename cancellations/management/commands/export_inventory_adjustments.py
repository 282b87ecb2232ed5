"""Print inventory adjustments for the next inventory feed (CSV or JSON), optionally marking them exported."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandParser

from cancellations.api.serializers import InventoryAdjustmentSerializer
from cancellations.management.cli import account_by_name
from cancellations.services.inventory_export import (
    EXPORT_STATUSES,
    inventory_adjustments_export_list,
    inventory_adjustments_mark_exported,
    inventory_csv,
)


class Command(BaseCommand):
    help = ("Print pending inventory adjustments (CSV with per-SKU restock totals, or JSON); with "
            "--mark-exported, mark exactly the printed ones exported.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=["csv", "json"], default="csv")
        parser.add_argument("--account", help="Only this account (by name).")
        parser.add_argument("--status", choices=EXPORT_STATUSES, default="pending")
        parser.add_argument("--mark-exported", action="store_true", help="Mark the printed adjustments exported.")

    def handle(self, *args, **opts) -> None:
        account = account_by_name(opts["account"]).name if opts["account"] else ""
        rows = list(inventory_adjustments_export_list(status=opts["status"], account=account))
        if opts["format"] == "csv":
            self.stdout.write(inventory_csv(rows), ending="")
        else:
            self.stdout.write(json.dumps(InventoryAdjustmentSerializer(rows, many=True).data, indent=2))
        if opts["mark_exported"] and rows:
            marked = inventory_adjustments_mark_exported(ids=[a.pk for a in rows])
            self.stderr.write(f"Marked {marked} adjustment(s) exported.")
