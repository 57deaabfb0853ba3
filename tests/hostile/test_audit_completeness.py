"""Exactly one audit row per call, on every surface and for every outcome: a tool that worked, was refused for
scope, refused by the read-only endpoint, given bad arguments or an unknown name; a prompt rendered, denied or
failed; a resource read; a REST call; the timeline a page shows; a provider's status callback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from harmonia.models import AuditEvent
from harmonia.services import comms
from harmonia.services.tenancy import create_token
from harmonia.surfaces.webhooks import twilio_signature

from .conftest import MCP_HEADERS, PASSWORD, TWILIO_TOKEN, Site, csrf_of


def _rows(site: Site) -> int:
    site.app.state.h.reads.flush()  # successful reads are written in batches (by the app's root)
    site.ws.flush_reads()  # and by the test's own root
    with site.db.unit_of_work(site.ws.actor(), write=False) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def _rows_of(site: Site, action: str) -> int:
    site.app.state.h.reads.flush()
    site.ws.flush_reads()
    with site.db.unit_of_work(site.ws.actor(), write=False) as uow:
        return int(uow.session.scalar(select(func.count()).where(AuditEvent.action == action)) or 0)


@pytest.fixture
def client(site: Site) -> Iterator[TestClient]:
    with TestClient(site.app, base_url="http://127.0.0.1:8000") as c:
        yield c


def test_every_call_on_every_surface_leaves_exactly_one_audit_row(
    site: Site, client: TestClient, report_figure: Any
) -> None:
    ws = site.ws
    write_only = create_token(ws.db, ws.slug, ws.owner.email, ["mcp:write"], "writer").secret
    contact_id = ws.call("contacts_list", limit=1)["items"][0]["id"]
    deal_id = ws.call("opportunities_list", limit=1)["items"][0]["id"]
    comms.receive_sms(ws.db, ws.id, "+15555550100", "hello, it's Ann", "SM_audit_1")

    def mcp(token: str, method: str, params: dict[str, Any], path: str = "/mcp") -> Callable[[], Any]:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        return lambda: client.post(path, json=body, headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"})

    def rest(method: str, path: str, token: str, **kw: Any) -> Callable[[], Any]:
        return lambda: client.request(method, "/api/v1" + path, headers={"Authorization": f"Bearer {token}"}, **kw)

    def status_callback() -> Any:
        path, form = f"/webhooks/twilio/{ws.id}/status", {"MessageSid": "SM_audit_1", "MessageStatus": "delivered"}
        signature = twilio_signature(TWILIO_TOKEN, site.app.state.settings.public_url + path, form)
        return client.post(path, data=form, headers={"X-Twilio-Signature": signature})

    tool, read = site.token, site.read_token
    calls: dict[str, Callable[[], Any]] = {
        "mcp tool ok (read)": mcp(tool, "tools/call", {"name": "contacts_list", "arguments": {}}),
        "mcp tool ok (write)": mcp(tool, "tools/call", {"name": "contacts_create", "arguments": {"first_name": "Bo"}}),
        "mcp tool invalid arguments": mcp(tool, "tools/call", {"name": "contacts_list", "arguments": {"x": 1}}),
        "mcp tool not found record": mcp(tool, "tools/call", {"name": "contacts_get",
                                                             "arguments": {"contact_id": "ct_00000000000000000000"}}),
        "mcp unknown tool": mcp(tool, "tools/call", {"name": "no_such_tool", "arguments": {}}),
        "mcp tool refused for scope (403)": mcp(read, "tools/call", {"name": "users_list", "arguments": {}}),
        "mcp/readonly write tool refused": mcp(tool, "tools/call", {"name": "notes_create", "arguments": {}},
                                               "/mcp/readonly"),
        "mcp/readonly read tool ok": mcp(tool, "tools/call", {"name": "pipelines_list", "arguments": {}},
                                         "/mcp/readonly"),
        "prompt ok": mcp(tool, "prompts/get", {"name": "stale_deal_alert", "arguments": {}}),
        "prompt denied (no mcp:read)": mcp(write_only, "prompts/get", {"name": "stale_deal_alert", "arguments": {}}),
        "prompt invalid arguments": mcp(tool, "prompts/get", {"name": "stale_deal_alert",
                                                             "arguments": {"days": "many"}}),
        "prompt not found record": mcp(tool, "prompts/get", {"name": "lender_match_brief",
                                                            "arguments": {"opportunity_id": "op_00000000000000000000"}}),
        "prompt unknown": mcp(tool, "prompts/get", {"name": "no_such_prompt", "arguments": {}}),
        "resource read": mcp(tool, "resources/read", {"uri": "harmonia://workspace/outbound"}),
        "resource unknown": mcp(tool, "resources/read", {"uri": "harmonia://nope"}),
        "rest ok": rest("GET", "/contacts", tool),
        "rest invalid": rest("POST", "/contacts", tool, json={"first_name": 5}),
        "rest refused for scope": rest("GET", "/users", read),
        "rest timeline": rest("GET", f"/timeline?record_type=contact&record_id={contact_id}", tool),
        "provider status callback": status_callback,
    }  # fmt: skip
    deltas = {}
    for name, call in calls.items():
        before = _rows(site)
        response = call()
        assert response.status_code < 500, name
        deltas[name] = _rows(site) - before
    assert {name: d for name, d in deltas.items() if d != 1} == {}

    page = client.get("/signin")
    client.post("/signin", data={"workspace": ws.slug, "email": ws.owner.email, "password": PASSWORD,
                                 "csrf": csrf_of(page.text)})  # fmt: skip
    for url in (f"/contacts/{contact_id}", f"/deals/{deal_id}"):
        before = _rows_of(site, "records_timeline")
        assert client.get(url).status_code == 200
        assert _rows_of(site, "records_timeline") - before == 1, url
    report_figure(f"audit completeness ({'SQLite' if site.db.is_sqlite else 'PostgreSQL'}): {len(calls)} kinds of "
                  "call over MCP, /mcp/readonly, prompts, resources, REST, webhooks; each exactly 1 row; the "
                  "timeline of the contact and deal pages 1 row each")  # fmt: skip
