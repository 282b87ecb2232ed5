"""The dashboard's inventory panel: pending units per SKU (a seller restocks by SKU)."""

from __future__ import annotations

from django import template
from django.urls import reverse

from ..services.inventory_export import pending_sku_totals

register = template.Library()
PANEL_PERMISSION = "cancellations.view_inventoryadjustment"


@register.inclusion_tag("admin/cancellations/inventory_sku_panel.html", takes_context=True)
def inventory_sku_panel(context) -> dict:
    """Pending adjustments summed per SKU (one query), for users who may see adjustments."""
    request = context.get("request")
    if request is None or not request.user.has_perm(PANEL_PERMISSION):
        return {"visible": False}
    return {
        "visible": True,
        "totals": pending_sku_totals(),
        "list_url": reverse("admin:cancellations_inventoryadjustment_changelist"),
        "csv_url": reverse("inventory-adjustment-list") + "?status=pending&format=csv",
    }
