"""Reads answered in the HTTP handler (surfaces/mcp_fast.py) answer exactly what the SDK's own pipeline answers, in
both protocol eras, successes and errors alike; whatever the fast path declines, the SDK answers as before."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from harmonia.config import Settings
from harmonia.services.tenancy import create_token
from harmonia.surfaces.app import create_app
from harmonia.surfaces.mcp_fast import FastReads

from ..conftest import Workspace
from .conftest import serve_in_thread

MODERN = "2026-07-28"
ERAS = ["2025-06-18", "2025-11-25", MODERN]


@dataclass
class Pair:
    on: str  # base URL of a server with fast reads (the default)
    off: str  # the same workspace, every call through the SDK's pipeline
    fast: FastReads  # the on server's, to count what it answered
    token: str
    ws: Workspace
    roots: tuple[Any, Any]  # each server's composition root (its queue of read audits)


@pytest.fixture
def pair(seeded: Workspace) -> Iterator[Pair]:
    token = create_token(seeded.db, seeded.slug, seeded.owner.email, ["mcp:read", "mcp:write", "mcp:admin"]).secret
    on_app = create_app(Settings(database_url=seeded.db.url), seeded.db)
    off_app = create_app(Settings(database_url=seeded.db.url, mcp_fast_reads=False), seeded.db)
    route = next(r for r in on_app.router.routes if getattr(r, "path", None) == "/mcp")
    fast = route.endpoint.app.fast  # TrimHeaderWhitespace → BearerAuth → FastReads
    with serve_in_thread(on_app) as on, serve_in_thread(off_app) as off:
        yield Pair(on, off, fast, token, seeded, (on_app.state.h, off_app.state.h))


def _post(url: str, token: str, version: str, name: str, arguments: dict[str, Any] | None,
          headers: dict[str, str] | None = None, meta: bool = True, extra: dict[str, Any] | None = None,
          client: str | None = None) -> httpx.Response:  # fmt: skip
    params: dict[str, Any] = {"name": name, **(extra or {})}
    if arguments is not None:
        params["arguments"] = arguments
    if client is not None and version != MODERN:
        params["_meta"] = {"io.modelcontextprotocol/clientInfo": {"name": client, "version": "1"}}
    sent = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json", "MCP-Protocol-Version": version}  # fmt: skip
    if version == MODERN:
        if meta:
            params["_meta"] = {"io.modelcontextprotocol/protocolVersion": MODERN,
                               "io.modelcontextprotocol/clientInfo": {"name": "claude-ai", "version": "1"},
                               "io.modelcontextprotocol/clientCapabilities": {}}  # fmt: skip
        sent |= {"Mcp-Method": "tools/call", "Mcp-Name": name}
    sent |= headers or {}
    sent = {k: v for k, v in sent.items() if v}  # an empty value: that header left out
    body = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params}
    return httpx.post(f"{url}/mcp", content=orjson.dumps(body), headers=sent, timeout=30)


def _answer(response: httpx.Response) -> tuple[int, str, Any]:
    return response.status_code, response.headers.get("content-type", ""), response.json()


@pytest.mark.parametrize("version", ERAS)
def test_a_read_answered_in_the_handler_is_what_the_sdk_answers_in_every_era(pair: Pair, version: str) -> None:
    contact = pair.ws.call("contacts_list", limit=1)["items"][0]
    calls: list[tuple[str, dict[str, Any] | None]] = [
        ("contacts_get", {"contact_id": contact["id"]}),
        ("contacts_get", {"contact_id": "ct_00000000000000000000"}),  # not found: an isError result
        ("contacts_get", {}),  # a required argument missing: an isError result naming it
        ("contacts_get", {"contact_id": contact["id"], "colour": "red"}),  # an unknown argument
        ("search", {"q": contact["name"].split()[0]}),
        ("opportunities_list", {"limit": 3}),
        ("pipelines_list", None),  # no arguments at all
        ("settings_get", {}),  # a read through the ORM: on a worker thread
    ]
    before = pair.fast.answered
    for name, arguments in calls:
        on = _answer(_post(pair.on, pair.token, version, name, arguments))
        off = _answer(_post(pair.off, pair.token, version, name, arguments))
        assert on == off, f"{name} {arguments} at {version}"
        assert on[0] == 200 and on[1] == "application/json"
    assert pair.fast.answered - before == len(calls), "every read above was answered by the fast path"


TASK = {"task": {"ttl": 60000}}


@pytest.mark.one_backend
@pytest.mark.parametrize(
    ("version", "name", "arguments", "headers", "meta", "extra"),
    [
        ("2025-11-25", "contacts_update", {"contact_id": "ct_00000000000000000000", "title": "CFO"}, None, True, None),
        ("2025-11-25", "no_such_tool", {}, None, True, None),
        ("2025-11-25", "contacts_list", {}, {"Content-Type": "text/plain"}, True, None),
        ("2025-11-25", "contacts_list", {}, {"Host": "evil.example"}, True, None),
        ("2025-11-25", "contacts_list", {}, {"Accept": "text/event-stream"}, True, None),
        ("2025-11-25", "contacts_list", {}, {"Origin": "http://evil.example"}, True, None),
        ("2025-11-25", "contacts_list", {}, {"MCP-Protocol-Version": ""}, True, None),
        ("2025-11-25", "contacts_list", {}, None, True, TASK),
        (MODERN, "contacts_list", {"limit": 2}, {"Mcp-Name": "search"}, True, None),
        (MODERN, "contacts_list", {"limit": 2}, None, False, None),
        (MODERN, "contacts_list", {"limit": 2}, {"Origin": "http://evil.example"}, True, None),
        (MODERN, "contacts_list", {"limit": 2}, {"Accept": "text/html"}, True, None),
        (MODERN, "contacts_list", {"limit": 2}, None, True, TASK),
        ("1999-01-01", "contacts_list", {}, None, True, None),
    ],
    ids=[
        "a write",
        "an unknown tool",
        "not JSON",
        "a foreign Host",
        "no JSON accepted",
        "a foreign Origin",
        "no protocol version header",
        "a task-augmented call",
        "a mismatched Mcp-Name",
        "no _meta in the 2026 era",
        "a foreign Origin in the 2026 era",
        "no JSON accepted in the 2026 era",
        "a task-augmented call in the 2026 era",
        "an unknown version",
    ],
)
def test_what_the_fast_path_declines_the_sdk_answers_unchanged(
    pair: Pair,
    version: str,
    name: str,
    arguments: dict[str, Any],
    headers: dict[str, str] | None,
    meta: bool,
    extra: dict[str, Any] | None,
) -> None:
    before = pair.fast.answered
    on = _post(pair.on, pair.token, version, name, arguments, headers, meta, extra)
    off = _post(pair.off, pair.token, version, name, arguments, headers, meta, extra)
    assert pair.fast.answered == before
    assert on.status_code == off.status_code
    assert on.content == off.content or on.json() == off.json()


@pytest.mark.one_backend
def test_a_2026_era_call_with_arguments_is_checked_against_its_own_schema_without_listing_the_catalogue(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK checks a 2026-era call's `Mcp-Param-*` headers against the tool's input schema; without the server's
    schema lookup it runs the whole `tools/list` to find it, on every call (32 KB built and validated)."""
    registry = pair.fast.h.registry
    listed: list[object] = []
    real = registry.mcp_tools
    monkeypatch.setattr(registry, "mcp_tools", lambda *a, **k: listed.append(a) or real(*a, **k))
    created = _post(pair.on, pair.token, MODERN, "contacts_create", {"first_name": "Ines", "email": "ines@x.test"})
    assert created.status_code == 200 and not created.json()["result"].get("isError")
    assert listed == []
    listing = _post(pair.on, pair.token, MODERN, "no_such_tool", {"a": 1})  # the refusal names what exists: it lists
    assert "tools available here" in listing.text and listed


@pytest.mark.one_backend
@pytest.mark.parametrize("version", ["2025-11-25", MODERN])
def test_the_audit_names_the_ai_client_of_a_fast_read_as_it_names_it_through_the_sdk(pair: Pair, version: str) -> None:
    from sqlalchemy import select

    from harmonia.models import AuditEvent

    for url in (pair.on, pair.off):
        answered = pair.fast.answered
        _post(url, pair.token, version, "contacts_list", {"limit": 1}, client="claude-ai")
        assert pair.fast.answered == answered + (1 if url == pair.on else 0)
    for root in pair.roots:
        root.reads.flush()
    with pair.ws.db.unit_of_work(pair.ws.actor(), write=False) as uow:
        clients = list(uow.session.scalars(select(AuditEvent.client).where(AuditEvent.action == "contacts_list")))
    assert len(clients) == 2 and clients[0] == clients[1] and clients[0].startswith("claude-ai")
