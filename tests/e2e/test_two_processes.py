"""Two `harmonia serve` processes on one database behave as one installation (issue 21): a web session begun on one
is honoured by the other and ended for both by a sign-out on either; a token revoked anywhere is refused by every
process on its next call. Nothing a second process would need lives in one process's memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from harmonia.services import tenancy
from harmonia.services.people import set_password

from ..conftest import Workspace
from ..mcp.conftest import free_port
from ..web import csrf_of

HARMONIA = str(Path(sys.executable).with_name("harmonia"))
PASSWORD = "correct horse battery staple 42"
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
               "MCP-Protocol-Version": "2025-11-25"}  # fmt: skip


@pytest.fixture
def two_servers(acme: Workspace, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Base URLs of two server processes sharing `acme`'s database and the secret key."""
    env = dict(os.environ, HARMONIA_DATABASE_URL=acme.db.url, HARMONIA_SECRET_KEY="two-processes-" + "k" * 40,
               HARMONIA_INPROCESS_DISPATCH="false")  # fmt: skip
    ports = [free_port(), free_port()]
    logs = [(tmp_path / f"serve-{p}.log").open("wb") for p in ports]
    procs = [
        subprocess.Popen(
            [HARMONIA, "serve", "--port", str(p)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for p, log in zip(ports, logs, strict=True)
    ]
    try:
        for port, proc in zip(ports, procs, strict=True):
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, (tmp_path / f"serve-{port}.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "the server did not start within 60 s"
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
        yield f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)
        for log in logs:
            log.close()


def _tool(base: str, token: str, name: str, arguments: dict[str, object]) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    return httpx.post(f"{base}/mcp", content=orjson.dumps(body), timeout=30,
                      headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"})  # fmt: skip


@pytest.mark.slow
def test_a_session_and_a_revocation_made_in_one_process_hold_in_the_other(
    acme: Workspace, two_servers: tuple[str, str]
) -> None:
    a, b = two_servers
    set_password(acme.db, acme.slug, acme.owner.email, PASSWORD)
    with httpx.Client(timeout=30) as browser:  # one cookie jar, as one browser sees both behind a load balancer
        page = browser.get(f"{a}/signin?workspace={acme.slug}")
        form = {"workspace": acme.slug, "email": acme.owner.email, "password": PASSWORD, "csrf": csrf_of(page.text)}
        assert browser.post(f"{a}/signin", data=form).status_code in (200, 303)
        on_b = browser.get(f"{b}/contacts", follow_redirects=False)
        assert on_b.status_code == 200 and "Sign out" in on_b.text  # B knows the session A began
        signed_out = browser.post(f"{b}/signout", data={"csrf": csrf_of(on_b.text)}, follow_redirects=False)
        assert signed_out.status_code == 303
        back_on_a = browser.get(f"{a}/contacts", follow_redirects=False)
        assert back_on_a.status_code in (302, 303) and "/signin" in back_on_a.headers["location"]

    issued = tenancy.create_token(acme.db, acme.slug, acme.owner.email, ["mcp:read", "mcp:write"])
    contact = _tool(a, issued.secret, "contacts_create", {"first_name": "Rosa", "email": "rosa@two.test"})
    assert contact.status_code == 200 and not contact.json()["result"].get("isError")
    contact_id = contact.json()["result"]["structuredContent"]["id"]
    seen = _tool(b, issued.secret, "contacts_get", {"contact_id": contact_id})  # B reads what A wrote
    assert seen.status_code == 200 and seen.json()["result"]["structuredContent"]["first_name"] == "Rosa"

    with acme.db.unit_of_work(acme.owner_actor("cli")) as uow:  # revoked from outside both servers
        tenancy.revoke_token(uow, issued.token.id)
    for base in (a, b):
        refused = _tool(base, issued.secret, "contacts_get", {"contact_id": contact_id})
        assert refused.status_code == 401, f"{base} still accepted a revoked token"
