"""The emulators are an independent oracle: no sandbox module imports our marketplace clients (their codecs,
signers or reason lists), so a bug shared by client and emulator cannot pass unseen."""

from __future__ import annotations

import ast
from pathlib import Path

import cancellations.sandbox

SANDBOX = Path(cancellations.sandbox.__file__).parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return found


def test_no_sandbox_module_imports_a_marketplace_client():
    modules = sorted(SANDBOX.rglob("*.py"))
    assert len(modules) > 5
    offenders = {
        str(path.relative_to(SANDBOX)): sorted(name for name in _imports(path) if "marketplaces" in name)
        for path in modules
    }
    assert {k: v for k, v in offenders.items() if v} == {}
