"""docs/tools.md and the per-tool schema snapshots are generated from the registry and never stale, and the
catalogue every client loads into its context stays within its budget."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harmonia.errors import InvalidArguments
from harmonia.ops import build_registry
from harmonia.ops.registry import Operation
from harmonia.surfaces.docs_gen import ROOT, render_docs, snapshots, tools_list_bytes, write
from harmonia.surfaces.mcp_server import tool_definition
from harmonia.surfaces.rest import openapi

from ..conftest import Workspace

pytestmark = pytest.mark.one_backend

# `tools/list` for an all-scope token, compact JSON. Every client pays for it in context on every conversation, so a
# new tool or a longer description has to fit, or argue for a bigger budget here. Issue 7 set 24 KB; issue 18 spent
# 8 KB more on documented arguments, published limits and output schemas that name their fields.
TOOLS_LIST_BUDGET = 32 * 1024  # 32 KiB, ~8k tokens


def _op(name: str) -> Operation:
    op = build_registry().get(name)
    assert op is not None
    return op


def test_docs_tools_md_matches_the_registry() -> None:
    if os.environ.get("UPDATE_TOOLSNAPS"):
        write()
    assert (ROOT / "docs" / "tools.md").read_text() == render_docs(), (
        "docs/tools.md is stale: run `python -m harmonia.surfaces.docs_gen` (or UPDATE_TOOLSNAPS=1 pytest)"
    )


def test_every_tool_schema_matches_its_snapshot() -> None:
    snaps = Path(ROOT / "tests" / "mcp" / "__toolsnaps__")
    current = snapshots()
    on_disk = {str(p.relative_to(snaps).with_suffix("")): p.read_text() for p in snaps.glob("**/*.json")}
    assert sorted(on_disk) == sorted(current), "a tool was added or removed: regenerate the snapshots"
    stale = [name for name, text in current.items() if on_disk[name] != text]
    assert stale == [], f"schema changed for {stale}: review the diff, then UPDATE_TOOLSNAPS=1"


def test_tools_list_for_an_all_scope_token_fits_its_32_kb_budget() -> None:
    size = tools_list_bytes()
    print(
        f"tools/list, all scopes: core {size:,} B; "
        + ", ".join(f"{t} +{tools_list_bytes(toolsets=(t,)):,} B" for t in build_registry().toolsets()[1:])
    )
    assert size <= TOOLS_LIST_BUDGET, (
        f"tools/list is {size:,} bytes, over its budget of {TOOLS_LIST_BUDGET:,}: say each fact once (in the tool's "
        "description or on its argument), leave out what the schema already says, or raise the budget knowingly"
    )


def test_a_bound_a_tool_schema_leaves_out_is_still_enforced_and_published_in_the_rest_document(
    acme: Workspace,
) -> None:
    # An amount's upper bound guards storage (cents in 64 bits), not a rule a model needs to read; its unit is.
    amount = tool_definition(_op("opportunities_create")).input_schema["properties"]["amount"]
    assert amount == {"type": "number", "description": "USD, not cents"}
    body = openapi(build_registry())["paths"]["/api/v1/opportunities"]["post"]["requestBody"]["content"][
        "application/json"
    ]
    bounded = {"type": "number", "minimum": 0, "maximum": 10_000_000_000, "description": "USD, not cents"}
    assert bounded in body["schema"]["properties"]["amount"]["anyOf"]
    with pytest.raises(InvalidArguments, match="amount"):
        acme.call("opportunities_create", name="Too big", amount=20_000_000_000)


def test_a_fact_the_tool_description_gives_is_not_repeated_on_the_argument_but_the_rest_document_keeps_it() -> None:
    assert "assignee of a task or conversation" in tool_definition(_op("records_assign")).description
    # The argument says only what the tool's description does not: which id it takes.
    assert tool_definition(_op("records_assign")).input_schema["properties"]["user_id"]["description"] == "us_ id"
    body = openapi(build_registry())["paths"]["/api/v1/assign"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["user_id"]["description"].startswith("the new owner")
