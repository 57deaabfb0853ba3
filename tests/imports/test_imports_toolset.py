"""The `imports` toolset (SPEC §8): four tools with their scopes, REST routes, and never part of `core`."""

from __future__ import annotations

from harmonia.ops import build_registry


def test_the_imports_toolset_holds_its_four_tools_with_the_scopes_of_the_spec() -> None:
    tools = {op.name: op.scope.value for op in build_registry().mcp_tools(toolsets=("imports",))}
    assert tools == {"imports_start": "mcp:write", "imports_undo": "mcp:write", "jobs_get": "mcp:read",
                     "jobs_cancel": "mcp:write"}  # fmt: skip
    assert all(build_registry().get(name).rest for name in tools)  # type: ignore[union-attr]


def test_the_core_catalogue_stays_the_37_tools() -> None:
    core = build_registry().mcp_tools()
    assert len(core) == 37 and not {op.name for op in core} & {"imports_start", "jobs_get"}
