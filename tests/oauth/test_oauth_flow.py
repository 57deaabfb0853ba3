"""Remote connect (SPEC §9), proved with the SDK's own `OAuthClientProvider` against a real server on 127.0.0.1: it
discovers everything from the 401, registers (DCR) or identifies itself by URL (CIMD), a person signs in and
consents on the real pages, and the tokens it gets open /mcp — and only for as long and as far as they should."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import httpx2
import pytest
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from sqlalchemy import select

from harmonia.models import AccessToken, AuditEvent
from harmonia.services.tenancy import create_token
from mcp import Client

from ..conftest import Workspace
from .conftest import REDIRECT, Browser, Server, connect

pytestmark = pytest.mark.slow

MCP_HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


def tools_list(srv: Server, token: str, path: str = "/mcp") -> httpx.Response:
    return httpx.post(srv.url + path, json=LIST, headers=MCP_HEADERS | {"Authorization": f"Bearer {token}"})


async def test_the_sdk_client_discovers_registers_gets_consent_and_calls_tools(server: Server) -> None:
    conn = connect(server)
    async with conn.http, conn.client() as c:
        names = {t.name for t in (await c.list_tools()).tools}
        listed = await c.call_tool("contacts_create", {"first_name": "Ada", "last_name": "Lovelace"})
    assert "contacts_create" in names and "users_list" not in names  # mcp:admin is not asked for by default
    assert not listed.is_error
    page = conn.browser.pages[0]
    assert "Test Agent" in page and "unverified" in page and "127.0.0.1:33418" in page
    assert "Acme Funding" in page and "outbound switch" in page
    assert conn.storage.tokens is not None and conn.storage.tokens.refresh_token
    assert conn.storage.tokens.scope == "mcp:read mcp:write mcp:comms"
    with server.db.unit_of_work(server.ws.actor(), write=False) as uow:
        created = uow.session.scalars(select(AuditEvent).where(AuditEvent.action == "contacts_create")).one()
        consent = uow.session.scalars(select(AuditEvent).where(AuditEvent.action == "oauth_consent")).one()
    assert "Test Agent" in str(created.client) and created.channel == "mcp"
    assert consent.actor_user_id == server.ws.owner.id
    apps = await conn.browser.http.get("/settings/apps")
    await conn.browser.http.aclose()
    assert "Test Agent" in apps.text and "mcp:comms" in apps.text


async def test_a_client_identified_by_its_metadata_document_url_connects_without_registering(
    server: Server, cimd_url: str
) -> None:
    conn = connect(server, client_metadata_url=cimd_url)
    async with conn.http, conn.browser.http, conn.client() as c:
        assert (await c.list_tools()).tools
    page = conn.browser.pages[0]
    assert "Local Agent" in page and "unverified" not in page and cimd_url in page
    assert conn.storage.client_info is not None and conn.storage.client_info.client_id == cimd_url


async def test_an_expired_access_token_is_refused_and_the_client_refreshes_then_an_old_refresh_token_revokes_all(
    server: Server,
) -> None:
    conn = connect(server)
    async with conn.http, conn.client() as c:
        await c.list_tools()
    first = conn.storage.tokens
    assert first is not None and first.refresh_token
    server.clock.advance(minutes=61)
    assert tools_list(server, first.access_token).status_code == 401
    conn.provider.context.token_expiry_time = time.time() - 1  # the client's own clock agrees: expired
    conn.http = httpx2.AsyncClient(auth=conn.provider, timeout=30)  # a new session of the same client
    async with conn.http, conn.client() as c:
        assert (await c.list_tools()).tools
    second = conn.storage.tokens
    assert second is not None and second.access_token != first.access_token
    assert second.refresh_token != first.refresh_token
    assert len(conn.browser.pages) == 1  # refreshed, not consented again
    await conn.browser.http.aclose()

    reuse = httpx.post(server.url + "/oauth/token", data={"grant_type": "refresh_token", "client_id":
                       conn.storage.client_info.client_id, "refresh_token": first.refresh_token})  # type: ignore[union-attr]  # fmt: skip
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    assert tools_list(server, second.access_token).status_code == 401  # the whole family is revoked
    again = httpx.post(server.url + "/oauth/token", data={"grant_type": "refresh_token", "client_id":
                       conn.storage.client_info.client_id, "refresh_token": second.refresh_token})  # type: ignore[union-attr]  # fmt: skip
    assert again.json()["error"] == "invalid_grant"


async def test_a_client_that_reconnects_gets_in_without_a_second_consent(server: Server, cimd_url: str) -> None:
    conn = connect(server, client_metadata_url=cimd_url)
    async with conn.http, conn.client() as c:
        await c.list_tools()
    again = connect(server, client_metadata_url=cimd_url, browser=conn.browser)  # same person, same browser
    async with again.http, again.client() as c:
        assert (await c.list_tools()).tools
    await conn.browser.http.aclose()
    assert len(conn.browser.pages) == 1
    assert again.storage.tokens is not None and conn.storage.tokens is not None
    assert again.storage.tokens.access_token != conn.storage.tokens.access_token


def _register(srv: Server, redirect: str = REDIRECT) -> str:
    r = httpx.post(srv.url + "/oauth/register", json={"client_name": "Manual", "redirect_uris": [redirect]})
    assert r.status_code == 201, r.text
    assert r.json()["token_endpoint_auth_method"] == "none"
    return str(r.json()["client_id"])


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


async def _code(srv: Server, client_id: str, challenge: str, resource: str, redirect: str = REDIRECT) -> str:
    browser = Browser(srv.url, srv.ws.slug, srv.ws.owner.email)
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect, "state": "s1",
             "code_challenge": challenge, "code_challenge_method": "S256", "resource": resource,
             "scope": " offline_access  mcp:read\tmcp:write"}  # fmt: skip
    location = await browser.consent(f"/oauth/authorize?{urlencode(query)}")
    await browser.http.aclose()
    answer = parse_qs(urlsplit(location).query)
    assert location.startswith(redirect) and answer["state"] == ["s1"] and answer["iss"] == [srv.url]
    return answer["code"][0]


def _exchange(srv: Server, client_id: str, code: str, verifier: str, resource: str, redirect: str = REDIRECT) -> Any:
    return httpx.post(srv.url + "/oauth/token", data={"grant_type": "authorization_code", "code": code,
                      "client_id": client_id, "redirect_uri": redirect, "code_verifier": verifier,
                      "resource": resource})  # fmt: skip


async def test_a_replayed_code_is_refused_and_revokes_what_it_issued(server: Server) -> None:
    client_id = _register(server)
    verifier, challenge = _pkce()
    code = await _code(server, client_id, challenge, server.url + "/mcp")
    first = _exchange(server, client_id, code, verifier, server.url + "/mcp")
    assert first.status_code == 200, first.text
    assert first.json()["scope"] == "mcp:read mcp:write"  # " offline_access" and tabs did not break the split
    assert tools_list(server, first.json()["access_token"]).status_code == 200
    replay = _exchange(server, client_id, code, verifier, server.url + "/mcp")
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert tools_list(server, first.json()["access_token"]).status_code == 401


async def test_a_wrong_code_verifier_is_refused(server: Server) -> None:
    client_id = _register(server)
    _, challenge = _pkce()
    code = await _code(server, client_id, challenge, server.url + "/mcp")
    wrong = _exchange(server, client_id, code, secrets.token_urlsafe(48), server.url + "/mcp")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert "code_verifier" in wrong.json()["error_description"]


async def test_a_code_expires_after_ten_minutes(server: Server) -> None:
    client_id = _register(server)
    verifier, challenge = _pkce()
    code = await _code(server, client_id, challenge, server.url + "/mcp")
    server.clock.advance(minutes=10, seconds=1)
    late = _exchange(server, client_id, code, verifier, server.url + "/mcp")
    assert late.json()["error"] == "invalid_grant"


async def test_tokens_are_bound_to_their_resource(server: Server) -> None:
    client_id = _register(server)
    verifier, challenge = _pkce()
    foreign = _exchange(server, client_id, "x", verifier, "https://other.example/mcp")
    assert foreign.status_code == 400 and foreign.json()["error"] == "invalid_target"
    code = await _code(server, client_id, challenge, server.url + "/mcp/readonly")
    mismatched = _exchange(server, client_id, code, verifier, server.url + "/mcp")
    assert mismatched.json()["error"] == "invalid_target"
    code = await _code(server, client_id, challenge, server.url + "/mcp/readonly")
    readonly = _exchange(server, client_id, code, verifier, server.url + "/mcp/readonly").json()
    assert readonly["scope"] == "mcp:read"
    assert tools_list(server, readonly["access_token"], "/mcp/readonly").status_code == 200
    assert tools_list(server, readonly["access_token"], "/mcp").status_code == 401  # minted for another resource
    assert tools_list(server, readonly["refresh_token"], "/mcp/readonly").status_code == 401  # never a bearer


async def test_a_revoked_connected_app_is_refused_at_once(server: Server) -> None:
    conn = connect(server)
    async with conn.http, conn.client() as c:
        await c.list_tools()
    assert conn.storage.tokens is not None
    token = conn.storage.tokens.access_token
    assert tools_list(server, token).status_code == 200
    browser = conn.browser
    page = await browser.http.get("/settings/apps")
    family = page.text.split("/settings/apps/", 1)[1].split("/revoke", 1)[0]
    r = await browser.http.post(f"/settings/apps/{family}/revoke", data={"csrf": await browser.csrf("/settings/apps")})
    assert r.status_code == 303
    assert tools_list(server, token).status_code == 401
    assert "No connected apps" in (await browser.http.get("/settings/apps")).text
    await browser.http.aclose()


async def test_a_person_who_denies_sends_the_client_access_denied(server: Server) -> None:
    client_id = _register(server)
    browser = Browser(server.url, server.ws.slug, server.ws.owner.email, action="deny")
    _, challenge = _pkce()
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "state": "z",
             "code_challenge": challenge, "code_challenge_method": "S256"}  # fmt: skip
    location = await browser.consent(f"/oauth/authorize?{urlencode(query)}")
    await browser.http.aclose()
    assert parse_qs(urlsplit(location).query)["error"] == ["access_denied"]


async def test_an_unregistered_redirect_is_shown_to_the_person_never_followed(server: Server) -> None:
    client_id = _register(server)
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": "https://evil.example/cb",
             "code_challenge": "x" * 43, "code_challenge_method": "S256"}  # fmt: skip
    r = httpx.get(f"{server.url}/oauth/authorize?{urlencode(query)}")
    assert r.status_code == 400 and "evil.example" in r.text and "location" not in r.headers
    assert r.headers["x-frame-options"] == "DENY"


async def test_the_401_challenge_and_the_metadata_lead_a_client_to_the_authorization_server(server: Server) -> None:
    r = httpx.post(server.url + "/mcp", json=LIST, headers=MCP_HEADERS)
    assert r.status_code == 401
    prm_url = f"{server.url}/.well-known/oauth-protected-resource/mcp"
    assert (
        r.headers["www-authenticate"] == f'Bearer resource_metadata="{prm_url}", scope="mcp:read mcp:write mcp:comms"'
    )
    prm = httpx.get(prm_url).json()
    assert prm["resource"] == server.url + "/mcp" and prm["authorization_servers"] == [server.url]
    assert "offline_access" not in prm["scopes_supported"]
    ro = httpx.get(f"{server.url}/.well-known/oauth-protected-resource/mcp/readonly").json()
    assert ro["resource"] == server.url + "/mcp/readonly" and ro["scopes_supported"] == ["mcp:read"]
    meta = httpx.get(server.url + "/.well-known/oauth-authorization-server").json()
    assert meta["issuer"] == server.url
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["client_id_metadata_document_supported"] is True
    assert "none" in meta["token_endpoint_auth_methods_supported"]
    assert meta["authorization_response_iss_parameter_supported"] is True


async def test_registration_accepts_private_use_schemes_and_loopback_on_any_port(server: Server) -> None:
    client_id = _register(server, "cursor://anysphere.cursor-mcp/oauth/callback")
    assert client_id
    refused = httpx.post(server.url + "/oauth/register", json={"redirect_uris": ["http://evil.example/cb"]})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_redirect_uri"
    loopback = _register(server, "http://127.0.0.1/callback")
    verifier, challenge = _pkce()
    code = await _code(server, loopback, challenge, server.url + "/mcp", redirect="http://127.0.0.1:51234/callback")
    ok = _exchange(server, loopback, code, verifier, server.url + "/mcp", redirect="http://127.0.0.1:51234/callback")
    assert ok.status_code == 200, ok.text


async def test_a_static_token_keeps_working_and_a_write_with_a_read_token_names_the_scope_over_http(
    server: Server,
) -> None:
    reader = create_token(server.db, server.ws.slug, server.ws.owner.email, ["mcp:read"], "reader").secret
    h = httpx2.AsyncClient(headers={"Authorization": f"Bearer {reader}"}, timeout=30)
    async with h, Client(streamable_http_client(server.url + "/mcp", http_client=h)) as c:  # type: ignore[arg-type]
        assert (await c.list_tools()).tools
        with pytest.raises(MCPError) as refused:
            await c.call_tool("contacts_create", {"first_name": "Eve"})
    assert "mcp:write" in refused.value.error.message
    with server.db.unit_of_work(server.ws.actor(), write=False) as uow:
        kinds = {t.kind for t in uow.session.scalars(select(AccessToken))}
    assert kinds == {"static"}


async def test_registration_is_rate_limited_per_address(server: Server) -> None:
    answers = [httpx.post(server.url + "/oauth/register", json={"redirect_uris": [REDIRECT]}).status_code
               for _ in range(21)]  # fmt: skip
    assert answers[:20] == [201] * 20 and answers[20] == 429


def test_scopes_split_on_any_whitespace_and_unknown_ones_are_ignored() -> None:
    from harmonia.services.oauth import redirect_allowed, split_scopes

    assert split_scopes(" offline_access") == []
    assert split_scopes("mcp:write\tmcp:read\n offline_access") == ["mcp:read", "mcp:write"]
    assert redirect_allowed(["http://127.0.0.1/cb"], "http://127.0.0.1:4711/cb")
    assert redirect_allowed(["http://[::1]:80/cb"], "http://[::1]:9/cb")
    assert not redirect_allowed(["http://127.0.0.1/cb"], "http://127.0.0.1:4711/other")
    assert not redirect_allowed(["https://app.example/cb"], "https://app.example:444/cb")


def test_spent_and_expired_codes_are_removed_a_day_after_they_expire(acme: Workspace) -> None:
    from harmonia.clock import ManualClock
    from harmonia.models import OAuthCode
    from harmonia.services import oauth

    clock = ManualClock()
    acme.db.clock = clock
    client = oauth.register_client(acme.db, {"redirect_uris": [REDIRECT]}, remote="test")
    person = acme.actor(channel="ui")

    def issue() -> None:
        oauth.create_code(acme.db, person, client=client, scopes=["mcp:read"], redirect_uri=REDIRECT,
                          code_challenge="c" * 43, resource="http://127.0.0.1/mcp")  # fmt: skip

    issue()
    clock.advance(hours=23)
    issue()
    with acme.db.system_session(write=False) as s:
        assert len(s.scalars(select(OAuthCode)).all()) == 2
    clock.advance(hours=2)
    issue()
    with acme.db.system_session(write=False) as s:
        assert len(s.scalars(select(OAuthCode)).all()) == 2  # the first, expired over a day ago, is gone


async def test_a_call_beyond_the_granted_scopes_steps_up_through_a_second_consent(server: Server) -> None:
    conn = connect(server)
    async with conn.http, conn.client() as c:
        await c.list_tools()
        users = await c.call_tool("users_list", {})  # needs mcp:admin: 403 insufficient_scope, the client steps up
    await conn.browser.http.aclose()
    assert not users.is_error
    assert len(conn.browser.pages) == 2 and "mcp:admin" in conn.browser.pages[1]
    assert conn.storage.tokens is not None and "mcp:admin" in str(conn.storage.tokens.scope)
