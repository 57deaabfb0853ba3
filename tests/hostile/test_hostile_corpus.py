"""An outside probe's hostile input, against every surface on both databases: REST, MCP (raw JSON-RPC posts and the
SDK's own client over HTTP) and the web UI. No probe gets an internal error, every refusal says what is wrong in
words (no stack trace, SQL or exception name), and no refused write leaves a row behind."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx2
import pytest
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from starlette.testclient import TestClient

from harmonia.ops import build_registry
from harmonia.surfaces.rest import PREFIX
from mcp import Client

from ..mcp.conftest import serve_in_thread
from .conftest import MCP_HEADERS, RAW_BODIES, TEXTS, Site, Tally, csrf_of, hostile_values, row_counts

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _backend(site: Site) -> str:
    return "SQLite" if site.db.is_sqlite else "PostgreSQL"


def _rotate(values: list[Any], start: int, n: int) -> list[Any]:
    return [values[(start + i) % len(values)] for i in range(min(n, len(values)))]


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


@pytest.fixture
def client(site: Site) -> Iterator[TestClient]:
    with TestClient(site.app, base_url="http://127.0.0.1:8000", raise_server_exceptions=False) as c:
        yield c


def _classify_http(tally: Tally, where: str, response: Any) -> None:
    if response.status_code >= 500:
        tally.failed(where, f"{response.status_code} {response.text[:200]}")
    elif response.status_code >= 400:
        try:
            body = response.json()
            message = str(body.get("detail") or body.get("error", {}).get("message") or body.get("error_description")
                          or body.get("error") or "")  # fmt: skip
        except ValueError:
            message = re.sub(r"<[^>]+>", " ", response.text)
        tally.refused(where, message)
    else:
        tally.ok()


def test_rest_refuses_every_hostile_input_without_an_internal_error_or_a_partial_write(
    site: Site, client: TestClient, report_figure: Any
) -> None:
    tally = Tally("REST", _backend(site))
    auth = {"Authorization": f"Bearer {site.token}"}
    contact_id = site.ws.call("contacts_list", limit=1)["items"][0]["id"]
    turn = 0
    for op in build_registry():
        if op.rest is None:
            continue
        method, path = op.rest
        params = re.findall(r"{(\w+)}", path)
        url = PREFIX + re.sub(r"{\w+}", contact_id, path)
        fields = [f for f in op.input.model_fields if f not in params and f != "idempotency_key"]
        probes: list[tuple[str, dict[str, Any]]] = []
        for name in params:  # a hostile value where an id belongs
            for value in _rotate(TEXTS, turn, 3):
                turn += 1
                probes.append((PREFIX + path.replace("{" + name + "}", quote(str(value)[:3000], safe="")), {}))
        for name in fields:
            values = hostile_values(name)
            for value in values if name == "cursor" else _rotate(values, turn, 4):
                turn += 1
                probes.append((url, {name: value}))
        for target, args in probes:
            before = row_counts(site.db, site.ws) if method in WRITE_METHODS else None
            if method in WRITE_METHODS:
                r = client.request(
                    method, target, content=_json(args), headers={**auth, "Content-Type": "application/json"}
                )
            else:
                # A URL carries at most 64 KB (httpx): long values are cut to fit, still far past every limit.
                query = {k: [str(x)[:200] for x in v[:200]] if isinstance(v, list) else str(v)[:20_000]
                         for k, v in args.items()}  # fmt: skip
                r = client.request(method, target, params=query, headers=auth)
            _classify_http(tally, f"{method} {target[:60]} {list(args)}", r)
            if before is not None and 400 <= r.status_code < 500 and "blocked" not in r.text[:200]:
                assert row_counts(site.db, site.ws) == before, f"refused {method} {target} {list(args)} wrote rows"
    for body in RAW_BODIES:
        for target in (f"{PREFIX}/contacts", f"{PREFIX}/contacts/{contact_id}"):
            method = "POST" if target.endswith("/contacts") else "PATCH"
            before = row_counts(site.db, site.ws)
            r = client.request(method, target, content=body, headers={**auth, "Content-Type": "application/json"})
            _classify_http(tally, f"{method} {target} raw {body[:30]!r}", r)
            if r.status_code >= 400:
                assert row_counts(site.db, site.ws) == before
    too_big = client.post(f"{PREFIX}/contacts", content=_json({"first_name": "A", "x": "y" * 2_000_000}),
                          headers={**auth, "Content-Type": "application/json"})  # fmt: skip
    assert too_big.status_code == 413 and "at most" in too_big.json()["detail"]
    huge_field = {"first_name": "Big", "custom_fields": {"notes": "z" * 900_000}}
    refused = client.post(f"{PREFIX}/contacts", content=_json(huge_field), headers=auth)
    assert refused.status_code == 422 and "at most 10,000" in refused.json()["detail"]
    report_figure(tally.line())
    tally.check()


def _rpc(method: str, params: Any = None, rid: Any = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not ...:
        message["params"] = params
    return message


def test_raw_json_rpc_posts_to_mcp_get_protocol_errors_never_an_internal_error(
    site: Site, client: TestClient, report_figure: Any
) -> None:
    tally = Tally("MCP raw JSON-RPC", _backend(site))
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {site.token}"}
    messages: list[Any] = [
        _rpc("tools/call", ["contacts_list", {}]),
        _rpc("tools/call", "contacts_list"),
        _rpc("tools/call", 7),
        _rpc("tools/list", []),
        _rpc("prompts/get", ["daily_pipeline_brief"]),
        _rpc("resources/read", ["harmonia://workspace/outbound"]),
        [_rpc("tools/list", {}), _rpc("tools/list", {}, 2)],
        "a string",
        42,
        None,
        {"jsonrpc": "2.0", "id": 1},
        {"jsonrpc": "1.0", "id": 1, "method": "tools/list"},
        _rpc("tools/list", {}, {"an": "object id"}),
        _rpc("no/such/method", {}),
        _rpc("tools/call", {"name": 12, "arguments": {}}),
        _rpc("tools/call", {"name": "contacts_list", "arguments": ["not", "an", "object"]}),
        _rpc("tools/call", {"name": "contacts_list", "arguments": "limit=5"}),
        _rpc("tools/call", {"name": "contacts_create", "arguments": {"first_name": "nul\x00"}}),
        _rpc("tools/call", {"name": "contacts_list", "arguments": {"cursor": "!!!"}}),
        _rpc("tools/call", {"name": "x" * 10_000, "arguments": {}}),
        _rpc("prompts/get", {"name": "lender_match_brief", "arguments": {"opportunity_id": "op_\x00"}}),
        _rpc("prompts/get", {"name": "daily_pipeline_brief", "arguments": {"since": "2026-99-99"}}),
        _rpc("prompts/get", {"name": "stale_deal_alert", "arguments": {"days": "1e9"}}),
        _rpc("prompts/get", {"name": "nope", "arguments": {}}),
        _rpc("prompts/get", {"name": "daily_pipeline_brief", "arguments": {"since": ["a"]}}),
        _rpc("resources/read", {"uri": "file:///etc/passwd"}),
        _rpc("resources/read", {"uri": 5}),
        _rpc("tools/call", {"name": "contacts_list", "arguments": {"limit": {"$gt": 1}}}),
    ]
    for text in TEXTS:
        messages.append(_rpc("tools/call", {"name": "search", "arguments": {"q": text}}))
        messages.append(_rpc("tools/call", {"name": "notes_create", "arguments": {
            "record_type": "contact", "record_id": text, "body": text}}))  # fmt: skip
    bodies = [_json(m) for m in messages] + RAW_BODIES + [b"\x00" * 64, b"{" * 5000]
    for path in ("/mcp", "/mcp/readonly"):
        for body in bodies:
            before = row_counts(site.db, site.ws)
            r = client.post(path, content=body, headers=headers)
            where = f"POST {path} {body[:60]!r}"
            if r.status_code >= 500:
                tally.failed(where, r.text)
                continue
            try:
                answer = r.json()
            except ValueError:
                answer = {}
            error = answer.get("error") if isinstance(answer, dict) else None
            result = answer.get("result") if isinstance(answer, dict) else None
            if isinstance(error, dict):
                (tally.failed if error.get("code") == -32603 else tally.refused)(where, str(error.get("message")))
            elif isinstance(result, dict) and result.get("isError"):
                code = (result.get("structuredContent") or {}).get("error", {}).get("code")
                message = result["content"][0]["text"]
                (tally.failed if code == "internal_error" else tally.refused)(where, message)
            elif r.status_code >= 400:
                _classify_http(tally, where, r)
            else:
                tally.ok()
            refused = r.status_code >= 400 or error or (isinstance(result, dict) and result.get("isError"))
            if refused and b"sms_send" not in body and b"email_send" not in body:
                assert row_counts(site.db, site.ws) == before, f"refused {where} wrote rows"
    idle = client.get("/mcp", headers=headers)
    assert idle.status_code == 405 and idle.headers["allow"] == "POST"
    report_figure(tally.line())
    tally.check()


async def test_the_sdk_client_calling_every_tool_with_hostile_arguments_gets_refusals_never_internal_errors(
    site: Site, report_figure: Any
) -> None:
    tally = Tally("MCP SDK client", _backend(site))
    turn = 0
    with serve_in_thread(site.app) as url:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {site.token}"}, timeout=60)
        async with http, Client(streamable_http_client(url + "/mcp", http_client=http)) as mcp:  # type: ignore[arg-type]
            tools = (await mcp.list_tools()).tools
            for tool in tools:
                for name in tool.input_schema.get("properties", {}):
                    values = hostile_values(name)
                    for value in values if name == "cursor" else _rotate(values, turn, 3):
                        turn += 1
                        where = f"{tool.name}({name}={str(value)[:40]!r})"
                        try:
                            result = await mcp.call_tool(tool.name, {name: value})
                        except MCPError as error:
                            (tally.failed if error.code == -32603 else tally.refused)(where, error.message)
                            continue
                        if not result.is_error:
                            tally.ok()
                            continue
                        code = (result.structured_content or {}).get("error", {}).get("code")
                        message = result.content[0].text  # type: ignore[union-attr]
                        (tally.failed if code == "internal_error" else tally.refused)(where, message)
            for prompt in ("daily_pipeline_brief", "stale_deal_alert", "lender_match_brief"):
                for value in [*TEXTS[:3], "2026-13-01", "-5", "op_00000000000000000000"]:
                    arg = {"daily_pipeline_brief": "since", "stale_deal_alert": "days"}.get(prompt, "opportunity_id")
                    try:
                        await mcp.get_prompt(prompt, {arg: value})
                        tally.ok()
                    except MCPError as error:
                        (tally.failed if error.code == -32603 else tally.refused)(f"{prompt}({arg})", error.message)
    report_figure(tally.line())
    tally.check()


def test_the_web_ui_answers_hostile_links_and_forms_with_pages_never_an_error_500(
    site: Site, client: TestClient, report_figure: Any
) -> None:
    tally = Tally("web UI", _backend(site))
    page = client.get("/signin")
    signed = client.post("/signin", data={"workspace": site.ws.slug, "email": site.ws.owner.email,
                                          "password": "correct horse battery staple", "csrf": csrf_of(page.text)},
                         follow_redirects=False)  # fmt: skip
    assert signed.status_code == 303
    board = client.get("/board")
    assert board.status_code == 200 and "No amount yet" in board.text  # a deal without an amount shows on the board
    csrf = csrf_of(board.text)
    contact_id = site.ws.call("contacts_list", limit=1)["items"][0]["id"]
    deal_id = site.ws.call("opportunities_list", limit=1)["items"][0]["id"]
    texts = [t for t in TEXTS if len(t) < 100_000] + ["x" * 300_000]
    for text in texts:
        q = quote(text[:5000])
        for link in (f"/contacts?q={q}", f"/board?pipeline={q}", f"/inbox?status={q}", f"/tasks?due={q}",
                     f"/audit?action={q}", f"/contacts?cursor={q}", f"/deals/{q}", f"/contacts/{q}",
                     f"/signin?next={q}", f"/accounts?q={q}", f"/accounts/{q}", f"/lenders/{q}",
                     f"/deals/{deal_id}/brief?lender={q}"):  # fmt: skip
            _classify_http(tally, f"GET {link[:60]}", client.get(link, follow_redirects=False))
        forms = [
            ("/contacts/new", {"first_name": text, "last_name": text, "email": text, "phone": text}),
            (f"/contacts/{contact_id}/notes", {"body": text}),
            (f"/deals/{deal_id}/notes", {"body": text}),
            (f"/deals/{deal_id}/move", {"stage": text, "reason": text}),
            (f"/contacts/{contact_id}/tasks", {"title": text, "due_at": text}),
            ("/settings/tokens", {"name": text, "scopes": text}),
            ("/settings/users", {"email": text, "name": text, "role": text}),
            ("/deals/new", {"name": text, "amount": text, "contact": text, "account_id": text, "stage": text}),
            (
                f"/contacts/{contact_id}/edit",
                {
                    "first_name": text,
                    "account": text,
                    "sms_consent": text,
                    "consent_source": text,
                    "consent_given_at": text,
                },
            ),
            ("/accounts/new", {"name": text, "state": text, "owner_fico": text, "business_start_date": text}),
        ]
        for path, data in forms:
            before = row_counts(site.db, site.ws)
            r = client.post(path, data={**data, "csrf": csrf}, follow_redirects=False)
            _classify_http(tally, f"POST {path} {text[:20]!r}", r)
            if r.status_code >= 400:
                assert row_counts(site.db, site.ws) == before, f"refused POST {path} wrote rows"
    report_figure(tally.line())
    tally.check()
