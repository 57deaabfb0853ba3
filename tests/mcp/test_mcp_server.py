"""The MCP server driven by the official SDK client: catalogue, scopes, errors, both protocol eras, HTTP and stdio."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from mcp.client.streamable_http import streamable_http_client
from sqlalchemy import select

from harmonia.models import AuditEvent
from harmonia.ops import build_registry
from harmonia.services.tenancy import create_token
from mcp import Client, StdioServerParameters

from .conftest import Served

HARMONIA = str(Path(sys.executable).with_name("harmonia"))  # the installed command AI clients start

SPEC_TOOLS = {
    "mcp:read": {"search", "contacts_list", "contacts_get", "accounts_list", "accounts_get", "opportunities_list",
                 "opportunities_get", "pipelines_list", "calendars_events", "conversations_list", "conversations_get",
                 "tasks_list", "notes_list", "lenders_list", "reports_activity"},
    "mcp:write": {"contacts_create", "contacts_update", "accounts_upsert", "opportunities_create",
                  "opportunities_update", "opportunities_move_stage", "tags_apply", "records_assign", "tasks_create",
                  "tasks_update", "notes_create", "email_draft"},
    "mcp:comms": {"email_send", "sms_send", "calls_place", "conversations_reply"},
    "mcp:admin": {"users_list", "users_invite", "users_update", "audit_list", "settings_get", "settings_update"},
}  # fmt: skip


def http_client(served: Served, token: str, path: str = "/mcp", mode: str = "auto") -> Any:
    h = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return h, Client(streamable_http_client(served.url + path, http_client=h), mode=mode)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_an_all_scope_token_sees_exactly_the_37_tools_of_the_spec_in_both_eras(served: Served, mode: str) -> None:
    h, client = http_client(served, served.tokens["all"], mode=mode)
    async with h, client as c:
        tools = (await c.list_tools()).tools
    assert {t.name for t in tools} == set().union(*SPEC_TOOLS.values())
    assert len(tools) == 37
    for t in tools:
        assert t.input_schema["additionalProperties"] is False and t.output_schema["type"] == "object"
        a = t.annotations
        # The hints whose spec default is true are always written, so no client falls back to "destructive" or
        # "open world" (destructiveHint means something only when readOnlyHint is false); a hint left out is the
        # spec's default, false for readOnlyHint and idempotentHint, and must then be the truth.
        assert a is not None and a.open_world_hint is not None
        read_only = a.read_only_hint is True
        assert a.read_only_hint in (True, None) and a.idempotent_hint in (True, None)
        assert read_only == (t.name in SPEC_TOOLS["mcp:read"] or t.name in {"users_list", "audit_list", "settings_get"})
        assert (a.destructive_hint is None) == read_only and a.destructive_hint in (False, None)
        assert a.open_world_hint == (t.name in SPEC_TOOLS["mcp:comms"])
        op = build_registry().get(t.name)
        assert op is not None and (a.idempotent_hint is True) == (op.idempotent and not read_only)


async def test_a_read_token_sees_only_read_tools_and_a_write_is_refused_with_403_naming_the_scope(
    served: Served,
) -> None:
    h, client = http_client(served, served.tokens["read"])
    async with h, client as c:
        names = [t.name for t in (await c.list_tools()).tools]
    assert set(names) == SPEC_TOOLS["mcp:read"]
    assert names[0] == "search"  # fixed order
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "contacts_create", "arguments": {"first_name": "Eve"}},
    }
    r = httpx.post(
        served.url + "/mcp",
        json=body,
        headers={
            "Authorization": f"Bearer {served.tokens['read']}",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-11-25",
        },
    )
    assert r.status_code == 403
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
    assert 'scope="mcp:write"' in r.headers["www-authenticate"]
    with served.db.unit_of_work(served.ws.actor(), write=False) as uow:
        denied = uow.session.scalars(select(AuditEvent).where(AuditEvent.action == "contacts_create")).all()
    assert [(a.outcome, a.channel) for a in denied] == [("denied", "mcp")]


async def test_a_request_without_a_valid_token_is_refused_with_401(served: Served) -> None:
    for headers in ({}, {"Authorization": "Bearer hm_nope"}):
        r = httpx.post(
            served.url + "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers=headers | {"Accept": "application/json, text/event-stream"},
        )
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Bearer")


async def test_a_foreign_host_header_is_refused_dns_rebinding_protection(served: Served) -> None:
    r = httpx.post(
        served.url + "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={
            "Authorization": f"Bearer {served.tokens['all']}",
            "Host": "evil.example",
            "Accept": "application/json, text/event-stream",
        },
    )
    assert r.status_code in (400, 421)
    r = httpx.post(
        served.url + "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={
            "Authorization": f"Bearer {served.tokens['all']}",
            "Origin": "https://evil.example",
            "Accept": "application/json, text/event-stream",
        },
    )
    assert r.status_code == 403


async def test_the_readonly_endpoint_shows_only_read_tools_whatever_the_token_holds(served: Served) -> None:
    h, client = http_client(served, served.tokens["all"], path="/mcp/readonly")
    async with h, client as c:
        names = {t.name for t in (await c.list_tools()).tools}
        refused = await c.call_tool("contacts_create", {"first_name": "Eve"})
    assert names == SPEC_TOOLS["mcp:read"] | {"users_list", "audit_list", "settings_get"}
    assert refused.is_error and "unknown tool" in refused.content[0].text  # type: ignore[union-attr]


async def test_results_carry_structured_content_and_the_same_json_as_text(served: Served) -> None:
    import json

    h, client = http_client(served, served.tokens["all"])
    async with h, client as c:
        r = await c.call_tool("pipelines_list", {})
    assert not r.is_error
    assert json.loads(r.content[0].text) == r.structured_content  # type: ignore[union-attr]
    stages = [s["name"] for s in r.structured_content["items"][0]["stages"]]  # type: ignore[index]
    assert stages[0] == "New Lead" and "Funded" in stages


async def test_errors_are_iserror_results_that_say_what_exists(served: Served) -> None:
    h, client = http_client(served, served.tokens["all"])
    async with h, client as c:
        deal = (await c.call_tool("opportunities_list", {"limit": 1})).structured_content["items"][0]  # type: ignore[index]
        r = await c.call_tool("opportunities_move_stage", {"opportunity_id": deal["id"], "stage": "Fundd"})
        bad = await c.call_tool("contacts_list", {"colour": "red"})
    assert r.is_error and "stages are: New Lead" in r.content[0].text  # type: ignore[union-attr]
    assert r.structured_content == {"error": {"code": "not_found", "message": r.content[0].text, "field": "stage"}}  # type: ignore[union-attr]
    assert bad.is_error and "unknown argument 'colour'" in bad.content[0].text  # type: ignore[union-attr]


async def test_the_stdio_server_answers_the_sdk_client_in_both_eras(seeded: Any) -> None:
    token = create_token(seeded.db, seeded.slug, seeded.owner.email, ["mcp:read"], "stdio test").secret
    env = dict(os.environ, HARMONIA_TOKEN=token, HARMONIA_DATABASE_URL=seeded.db.url)
    params = StdioServerParameters(command=sys.executable, args=["-m", "harmonia.surfaces.cli", "mcp"], env=env)
    for mode in ("auto", "legacy"):
        with anyio.fail_after(60):
            async with Client(params, mode=mode) as c:  # type: ignore[arg-type]
                tools = (await c.list_tools()).tools
                r = await c.call_tool("search", {"q": "trucking"})
        assert len(tools) == 15
        assert not r.is_error and r.structured_content["items"]  # type: ignore[index]


async def test_the_stdio_server_exits_by_itself_when_the_client_closes_stdin_with_its_reads_audited(
    seeded: Any,
) -> None:
    # `harmonia mcp` ends with os._exit (mcp_stdio.exit_now): nothing it owes may be lost on the way out.
    token = create_token(seeded.db, seeded.slug, seeded.owner.email, ["mcp:read"], "stdio exit").secret
    env = dict(os.environ, HARMONIA_TOKEN=token, HARMONIA_DATABASE_URL=seeded.db.url)
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "pipelines_list", "arguments": {}}},
    ]  # fmt: skip
    with anyio.fail_after(60):
        async with await anyio.open_process([HARMONIA, "mcp"], env=env) as proc:
            assert proc.stdin is not None and proc.stdout is not None
            await proc.stdin.send(b"".join(json.dumps(r).encode() + b"\n" for r in requests))
            answers = BufferedByteReceiveStream(proc.stdout)
            await answers.receive_until(b"\n", 1 << 20)
            call = json.loads(await answers.receive_until(b"\n", 1 << 20))
            await proc.stdin.aclose()
            assert await proc.wait() == 0
    assert call["id"] == 2 and not call["result"].get("isError")
    with seeded.db.unit_of_work(seeded.actor(), write=False) as uow:
        reads = uow.session.scalars(select(AuditEvent).where(AuditEvent.action == "pipelines_list")).all()
    assert [(a.outcome, a.channel, a.client) for a in reads] == [("ok", "mcp", "raw (stdio exit)")]


async def test_the_stdio_server_exits_with_a_message_when_the_token_is_bad(seeded: Any) -> None:
    env = dict(os.environ, HARMONIA_TOKEN="hm_bad", HARMONIA_DATABASE_URL=seeded.db.url)
    proc = await anyio.run_process([sys.executable, "-m", "harmonia.surfaces.cli", "mcp"], env=env, check=False)
    assert proc.returncode == 2 and b"HARMONIA_TOKEN" in proc.stderr
