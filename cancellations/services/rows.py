"""Saving a few fields of several rows in the fewest, cheapest UPDATEs.

``bulk_update`` writes one ``CASE WHEN pk=… THEN …`` per field and row, which Django builds as expressions: it
cost a dispatch more CPU than the marketplace call itself. Values the rows share go in one plain UPDATE; values
that differ go row by row for a handful of rows, and in one CASE update beyond that (a fixed number of queries).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from django.db import models
from django.db.models import prefetch_related_objects

#: Up to this many rows, differing values are written with one plain UPDATE per row.
ROW_BY_ROW = 4


def rows_save(model: type[models.Model], rows: Collection[models.Model], names: Sequence[str]) -> None:
    rows = list(rows)
    if not rows:
        return
    first = rows[0]
    shared = {name: getattr(first, name) for name in names if all(getattr(r, name) == getattr(first, name)
                                                                  for r in rows)}
    varying = [name for name in names if name not in shared]
    if varying and len(rows) <= ROW_BY_ROW:
        for row in rows:
            model.objects.filter(pk=row.pk).update(**shared, **{name: getattr(row, name) for name in varying})
        return
    if shared:
        model.objects.filter(pk__in=[r.pk for r in rows]).update(**shared)
    if varying:
        model.objects.bulk_update(rows, varying)


def relations_load(rows: Sequence[models.Model], path: str) -> None:
    """Load the foreign key ``path`` (``a`` or ``a__b``) of the rows that have it set but not loaded, in one query.

    Cheaper than ``prefetch_related_objects`` when, as usual, the rows in hand have it loaded already.
    """
    *parents, name = path.split("__")
    holders = list(rows)
    for parent in parents:
        holders = [getattr(h, parent) for h in holders]
    if not holders:
        return
    field = holders[0]._meta.get_field(name)
    missing = [h for h in holders if getattr(h, field.attname) is not None and not field.is_cached(h)]
    if missing:
        prefetch_related_objects(missing, name)
