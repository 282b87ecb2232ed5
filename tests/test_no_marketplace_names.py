"""Services, selectors, admin, API, models and templates name no marketplace: they read its spec.

A hit means marketplace knowledge leaked out of ``cancellations/marketplaces/<name>/``; move it into the spec.
"""

from __future__ import annotations

import re
from pathlib import Path

from cancellations.marketplaces.registry import specs

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ["cancellations/services", "cancellations/selectors", "cancellations/admin", "cancellations/api",
           "cancellations/models.py", "templates"]
# Names and operation codes of the marketplaces we know, configured or not.
KNOWN = [r"walmart", r"mirakl", r"best\s*buy", r"\bOR\d\d\b", r"\bRE\d\d\b", r"\bWM_[A-Z_.]+"]


def _pattern() -> re.Pattern[str]:
    words = set(KNOWN)
    for spec in specs().values():
        words.add(re.escape(spec.key))
        words.update(re.escape(w) for w in spec.label.split() if len(w) > 3 and w.lower() not in {"canada"})
    return re.compile("|".join(sorted(words)), re.IGNORECASE)


def _files() -> list[Path]:
    found = []
    for name in SCANNED:
        path = ROOT / name
        found += [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in {".py", ".html"})
    return found


def test_the_scanned_places_exist():
    """The scan would pass vacuously if it read nothing."""
    files = _files()
    assert any(f.name == "models.py" for f in files) and any(f.suffix == ".html" for f in files)
    assert len(files) > 20
    assert ROOT / "cancellations/selectors/dashboard.py" in files and not (ROOT / "cancellations/dashboard.py").exists()


def test_no_marketplace_is_named_outside_its_package():
    pattern = _pattern()
    hits = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _files()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not hits, "Marketplace names outside cancellations/marketplaces/:\n" + "\n".join(hits)


def test_the_pattern_catches_what_it_must():
    pattern = _pattern()
    for text in ["if account.marketplace == 'walmart_ca':", "# Mirakl OR30 batches", "Best Buy CA", "RE01"]:
        assert pattern.search(text), text
    assert not pattern.search("the marketplace's order id")
