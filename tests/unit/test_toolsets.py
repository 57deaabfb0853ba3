"""Toolsets (SPEC §8): the 37 of SPEC §3 are `core` and the default everywhere; more toolsets are opt-in, `all` means
every one, an unknown name is refused naming the known ones, and scopes still filter inside every toolset."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from pydantic import BaseModel

from harmonia.bootstrap import bootstrap
from harmonia.config import Settings
from harmonia.ops import build_registry
from harmonia.ops.registry import CORE, Operation, Registry, Scope, UnknownToolset
from harmonia.services.tenancy import create_token
from harmonia.surfaces.app import create_app
from harmonia.surfaces.mcp_server import build_server
from mcp import Client

from ..conftest import Workspace
from ..mcp.conftest import serve_in_thread

pytestmark = pytest.mark.one_backend


class _Echo(BaseModel):
    text: str = "hi"


def _with_extra_toolset() -> Registry:
    """The real registry plus one read tool and one write tool in an opt-in toolset `extra`."""
    base = list(build_registry())
    echo = Operation(name="extra_echo", title="Echo", description="Echo.", scope=Scope.READ, read_only=True,
                     input=_Echo, output=_Echo, handler=lambda ctx, args: args, toolset="extra")  # fmt: skip
    poke = dataclasses.replace(echo, name="extra_poke", scope=Scope.WRITE, read_only=False)
    return Registry([*base, echo, poke])


def test_core_is_the_default_catalogue_and_holds_exactly_the_37_tools() -> None:
    registry = _with_extra_toolset()
    assert registry.toolsets()[0] == CORE and "extra" in registry.toolsets()
    core = registry.mcp_tools()
    assert len(core) == 37 and {op.toolset for op in core} == {CORE}
    assert [op.name for op in registry.mcp_tools(toolsets=registry.choose_toolsets(None))] == [op.name for op in core]


def test_a_client_opts_into_a_toolset_and_all_means_every_toolset() -> None:
    registry = _with_extra_toolset()
    chosen = registry.choose_toolsets("core, extra")
    assert [op.name for op in registry.mcp_tools(toolsets=chosen)][-2:] == ["extra_echo", "extra_poke"]
    assert registry.choose_toolsets("all") == set(registry.toolsets()) >= {CORE, "extra"}
    assert [op.name for op in registry.mcp_tools(toolsets=registry.choose_toolsets("extra"))] == [
        "extra_echo",
        "extra_poke",
    ]


def test_scopes_filter_inside_every_toolset() -> None:
    registry = _with_extra_toolset()
    names = [op.name for op in registry.mcp_tools({"mcp:read"}, registry.choose_toolsets("all"))]
    assert "extra_echo" in names and "extra_poke" not in names and "contacts_create" not in names


def test_an_unknown_toolset_is_refused_naming_the_toolsets_there_are() -> None:
    with pytest.raises(UnknownToolset) as info:
        _with_extra_toolset().choose_toolsets("core,automatoin")
    assert (
        "'automatoin'" in info.value.message
        and "toolsets are: core, " in info.value.message
        and "extra" in info.value.message
    )


async def test_over_mcp_a_tool_of_a_toolset_not_chosen_is_neither_listed_nor_callable(acme: Workspace) -> None:
    h = bootstrap(Settings(database_url=acme.db.url), db=acme.db, registry=_with_extra_toolset())
    try:
        async with Client(build_server(h, actor=acme.actor())) as client:
            assert "extra_echo" not in [t.name for t in (await client.list_tools()).tools]
            refused = await client.call_tool("extra_echo", {})
            assert refused.is_error and "unknown tool 'extra_echo'" in refused.content[0].text  # type: ignore[union-attr]
        chosen = h.registry.choose_toolsets("core,extra")
        async with Client(build_server(h, actor=acme.actor(), toolsets=chosen)) as client:
            assert "extra_echo" in [t.name for t in (await client.list_tools()).tools]
            answered = await client.call_tool("extra_echo", {"text": "hello"})
            assert answered.structured_content == {"text": "hello"}
    finally:
        h.close()


def test_over_http_the_toolsets_query_chooses_the_catalogue_and_an_unknown_one_is_a_clear_400(
    acme: Workspace,
) -> None:
    secret = create_token(acme.db, acme.slug, acme.owner.email, ["mcp:read"], "reader").secret
    h = bootstrap(Settings(database_url=acme.db.url), db=acme.db, registry=_with_extra_toolset())
    headers = {"Authorization": f"Bearer {secret}", "Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": "2025-11-25"}  # fmt: skip
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    try:
        with serve_in_thread(create_app(h=h)) as url:
            default = httpx.post(url + "/mcp", json=body, headers=headers).json()["result"]["tools"]
            opted = httpx.post(url + "/mcp?toolsets=core,extra", json=body, headers=headers).json()["result"]["tools"]
            bad = httpx.post(url + "/mcp?toolsets=nope", json=body, headers=headers)
    finally:
        h.close()
    assert "extra_echo" not in [t["name"] for t in default]
    assert [t["name"] for t in opted][-1] == "extra_echo"  # read token: the write tool stays hidden
    assert bad.status_code == 400 and "unknown toolset 'nope'" in bad.json()["error_description"]
