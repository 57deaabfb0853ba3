"""docs/tools.md and the per-tool schema snapshots are generated from the registry and never stale."""

from __future__ import annotations

import os
from pathlib import Path

from harmonia.surfaces.docs_gen import ROOT, render_docs, snapshots, write


def test_docs_tools_md_matches_the_registry() -> None:
    if os.environ.get("UPDATE_TOOLSNAPS"):
        write()
    assert (ROOT / "docs" / "tools.md").read_text() == render_docs(), (
        "docs/tools.md is stale: run `python -m harmonia.surfaces.docs_gen` (or UPDATE_TOOLSNAPS=1 pytest)"
    )


def test_every_tool_schema_matches_its_snapshot() -> None:
    snaps = Path(ROOT / "tests" / "mcp" / "__toolsnaps__")
    current = snapshots()
    on_disk = {p.stem: p.read_text() for p in snaps.glob("*.json")}
    assert sorted(on_disk) == sorted(current), "a tool was added or removed: regenerate the snapshots"
    stale = [name for name, text in current.items() if on_disk[name] != text]
    assert stale == [], f"schema changed for {stale}: review the diff, then UPDATE_TOOLSNAPS=1"
