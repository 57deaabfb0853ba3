"""Generates docs/tools.md and the per-tool schema snapshots from the registry (`python -m harmonia.surfaces.docs_gen`),
per toolset: `core` (the 37 of SPEC §3, the default catalogue) first, then every opt-in toolset (SPEC §8). Snapshots
live in `tests/mcp/__toolsnaps__/<toolset>/<tool>.json`.

A test regenerates both in memory and fails when the committed files differ: the catalogue cannot drift from its
documentation, and any change to a tool's schema shows up in review as a snapshot diff.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import mcp.types as types

from ..models import SCOPES
from ..ops import build_registry
from ..ops.prompts import PROMPTS
from ..ops.registry import CORE, Operation
from .mcp_server import tool_definition

__all__ = ["render_docs", "snapshots", "tools_list_bytes"]

ROOT = Path(__file__).resolve().parents[3]


def _wire(tool: types.Tool) -> dict[str, Any]:
    return tool.model_dump(mode="json", by_alias=True, exclude_none=True)


def tools_list_bytes(scopes: tuple[str, ...] = SCOPES, toolsets: tuple[str, ...] = (CORE,)) -> int:
    ops = build_registry().mcp_tools(scopes, toolsets)
    result = types.ListToolsResult(tools=[tool_definition(op) for op in ops])
    return len(json.dumps(result.model_dump(mode="json", by_alias=True, exclude_none=True), separators=(",", ":")))


def snapshots() -> dict[str, str]:
    """`<toolset>/<tool>` → the tool's wire definition, for every toolset."""
    registry = build_registry()
    return {f"{op.toolset}/{op.name}": json.dumps(_wire(tool_definition(op)), indent=2, sort_keys=True,
                                                  ensure_ascii=False) + "\n"
            for op in registry.mcp_tools(toolsets=registry.toolsets())}  # fmt: skip


def render_docs() -> str:
    registry = build_registry()
    ops = registry.mcp_tools()
    size = tools_list_bytes()
    lines = [
        "# The MCP catalogue",
        "",
        "Generated from the operations registry by `python -m harmonia.surfaces.docs_gen`; a test fails when this file",
        "or a schema snapshot in `tests/mcp/__toolsnaps__/` is stale.",
        "",
        "Tools come in toolsets (SPEC §8). `core` is the default everywhere; a client opts into more with",
        "`harmonia mcp --toolsets core,NAME` (or `HARMONIA_TOOLSETS`), or `/mcp?toolsets=core,NAME` over HTTP; `all`",
        "means every toolset. Scopes filter inside every toolset. Toolsets here: "
        + ", ".join(f"`{t}`" for t in registry.toolsets())
        + ".",
        "",
        f"## Toolset `core`: **{len(ops)} tools** — "
        + ", ".join(f"{sum(op.scope.value == s for op in ops)} `{s}`" for s in SCOPES)
        + f" — and **{len(PROMPTS)} prompts**",
        "",
        f"`tools/list` for an all-scope token: **{size:,} bytes** of JSON, about **{size // 4:,} tokens** (bytes/4). "
        "Per scope: " + ", ".join(f"`{s}` {tools_list_bytes((s,)):,} B" for s in SCOPES) + ". The read-only endpoint "
        "`/mcp/readonly` serves only the read tools.",
        "",
    ]
    lines += _section(ops)
    lines += ["## Prompts", ""]
    for p in PROMPTS.values():
        params = ", ".join(f"`{a.name}`{'' if a.required else '?'}" for a in p.arguments)
        lines += [f"- **`{p.name}`**({params}) — {p.description}"]
    for toolset in registry.toolsets()[1:]:
        extra = registry.mcp_tools(toolsets=(toolset,))
        size = tools_list_bytes(toolsets=(toolset,))
        lines += ["", f"# Toolset `{toolset}`: {len(extra)} tools", "",
                  f"Opt in with `--toolsets core,{toolset}`. `tools/list` adds **{size:,} bytes** for an all-scope "
                  "token.", ""]  # fmt: skip
        lines += _section(extra)
    return "\n".join(lines) + "\n"


def _section(ops: list[Operation]) -> list[str]:
    lines = [
        "| tool | scope | title | read-only | destructive | idempotent | open world |",
        "|---|---|---|---|---|---|---|",
    ]
    yes = {True: "yes", False: "—"}
    for op in ops:
        lines.append(f"| `{op.name}` | {op.scope.value} | {op.title} | {yes[op.read_only]} | {yes[op.destructive]} | "
                     f"{yes[op.idempotent]} | {yes[op.open_world]} |")  # fmt: skip
    lines.append("")
    for op in ops:
        schema = tool_definition(op).input_schema
        args = []
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            kind = prop.get("type") or ("object" if "$ref" in prop else "any")
            if "enum" in prop:
                kind = " \\| ".join(str(v) for v in prop["enum"])
            args.append(f"`{name}`{'' if name in required else '?'} ({kind})")
        lines += [f"### `{op.name}` — {op.title}", "", op.description, "",
                  f"Scope `{op.scope.value}`. Arguments: " + (", ".join(args) or "none") + ".", ""]  # fmt: skip
    return lines


def write() -> None:
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / "docs" / "tools.md").write_text(render_docs())
    snaps = ROOT / "tests" / "mcp" / "__toolsnaps__"
    snaps.mkdir(parents=True, exist_ok=True)
    for old in snaps.glob("**/*.json"):
        old.unlink()
    for name, text in snapshots().items():
        (snaps / f"{name}.json").parent.mkdir(parents=True, exist_ok=True)
        (snaps / f"{name}.json").write_text(text)


if __name__ == "__main__":
    write()
    sys.stdout.write("wrote docs/tools.md and tests/mcp/__toolsnaps__/\n")
