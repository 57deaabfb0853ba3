"""The MCP conformance suite's `authorization` scenarios against Harmonia's authorization server: the metadata
endpoint, and the authorization code grant — its browser step (sign in, consent) driven through the real pages. And
the MCP Inspector CLI: without a token it recognises the challenge as "sign in", with one it connects."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from harmonia.services.tenancy import create_token

from ..mcp.conftest import free_port
from ..mcp.test_conformance import _node_env, node_tools  # noqa: F401 - the fixture is used by name
from .conftest import Browser, Server

pytestmark = pytest.mark.slow


def _run(tools: Path, srv: Server, *args: str) -> subprocess.Popen[str]:
    cmd = [str(tools / "conformance"), "authorization", "--url", srv.url, *args]
    return subprocess.Popen(cmd, env=_node_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_the_authorization_server_metadata_scenario_passes(node_tools: Path, server: Server) -> None:  # noqa: F811
    done = _run(node_tools, server, "--scenario", "authorization-server-metadata-endpoint")
    out, _ = done.communicate(timeout=120)
    assert "SUCCESS" in out
    assert done.returncode == 0 and "0 failed" in out, out[-1500:]


def test_every_authorization_scenario_passes_with_sign_in_and_consent_through_the_pages(
    node_tools: Path,  # noqa: F811
    server: Server,
) -> None:
    port = free_port()
    registered = httpx.post(server.url + "/oauth/register", json={"client_name": "Conformance suite",
                            "redirect_uris": [f"http://127.0.0.1:{port}/callback"]})  # fmt: skip
    client_id = registered.json()["client_id"]
    # Every authorization scenario in one run: the code grant reads the metadata scenario's result.
    suite = _run(node_tools, server, "--client-id", client_id, "--port", str(port), "--resource",
                 server.url + "/mcp")  # fmt: skip
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert suite.stdout is not None
        for line in suite.stdout:
            lines.append(line)
            if line.startswith(server.url + "/oauth/authorize?"):
                found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert found.wait(60), "".join(lines)
        authorize = next(line.strip() for line in lines if line.startswith(server.url + "/oauth/authorize?"))

        async def consent() -> str:
            browser = Browser(server.url, server.ws.slug, server.ws.owner.email)
            try:
                return await browser.consent(authorize)
            finally:
                await browser.http.aclose()

        callback = asyncio.run(consent())
        assert httpx.get(callback, timeout=30).status_code == 200  # the suite's own callback server
        suite.wait(timeout=60)
    finally:
        if suite.poll() is None:
            suite.kill()
            suite.wait()
        reader.join(timeout=10)
        if suite.stdout is not None:
            suite.stdout.close()
    out = "".join(lines)
    assert suite.returncode == 0 and "authorization-code-grant: 1 passed, 0 failed" in out, out[-1500:]
    assert "Total: 3 passed, 0 failed" in out, out[-1500:]


def test_the_inspector_cli_understands_the_challenge_and_connects_with_a_token(
    node_tools: Path,  # noqa: F811
    server: Server,
) -> None:
    inspector = [str(node_tools / "mcp-inspector"), "--cli", "--format", "json", "-q", server.url + "/mcp",
                 "--method", "tools/list"]  # fmt: skip
    bare = subprocess.run(
        inspector, env=_node_env(), capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )
    answer = json.loads(bare.stdout or bare.stderr)
    assert answer["error"]["code"] == "auth_required", answer  # it found the OAuth flow from the 401
    token = create_token(server.db, server.ws.slug, server.ws.owner.email, ["mcp:read"], "inspector").secret
    done = subprocess.run([*inspector, "--header", f"Authorization: Bearer {token}"], env=_node_env(),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-1000:]
    assert json.loads(done.stdout)["result"]["tools"][0]["name"] == "search"
