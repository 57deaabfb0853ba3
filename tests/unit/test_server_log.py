"""`harmonia serve`'s log: it says when it is ready and where, a line per request an operator can grep by request
id, and a failure logged whole under the id its caller was shown. The OAuth resource follows the real port."""

from __future__ import annotations

import logging
import re

import pytest
from starlette.requests import Request
from starlette.routing import Route
from starlette.testclient import TestClient

from harmonia.config import Settings
from harmonia.surfaces.app import create_app

from ..conftest import Workspace

LINE = re.compile(
    r"^method=(?P<method>\S+) path=(?P<path>\S+) status=(?P<status>\d+) duration_ms=(?P<ms>\d+\.\d) "
    r"request_id=(?P<rid>[0-9a-f]{12}) client=\S+$"
)


async def _boom(request: Request) -> None:
    raise RuntimeError("the SQL said: SELECT secret FROM vault")


@pytest.mark.one_backend
def test_the_server_logs_ready_each_request_and_each_failure_with_the_request_id_the_caller_sees(
    acme: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(Settings(database_url=acme.db.url, port=9123), acme.db)
    app.router.routes.insert(0, Route("/test-boom", _boom))  # a fault of ours, nothing else catches it
    caplog.set_level(logging.INFO, logger="harmonia")
    with TestClient(app, base_url="http://127.0.0.1:9123", raise_server_exceptions=False) as client:
        ready = [r.getMessage() for r in caplog.records if r.name == "harmonia.server"]
        assert ready and ready[0].startswith("ready on http://127.0.0.1:9123 ")

        ok = client.get("/healthz?token=hm_secret_in_a_link")
        invitation = client.get("/invite/very-secret-invitation-token")
        refused = client.get("/api/v1/contacts", headers={"Authorization": "Bearer hm_wrong"})
        boom = client.get("/test-boom")
        # the 401 an OAuth client starts from names this server's real address (no HARMONIA_PUBLIC_URL set)
        unauthenticated = client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        prm = client.get("/.well-known/oauth-protected-resource/mcp").json()

    lines = {m["rid"]: m for r in caplog.records if r.name == "harmonia.access" and (m := LINE.match(r.getMessage()))}
    for response, method, path, status in (
        (ok, "GET", "/healthz", 200),
        (invitation, "GET", "/invite/…", None),
        (refused, "GET", "/api/v1/contacts", 401),
        (boom, "GET", "/test-boom", 500),
        (unauthenticated, "POST", "/mcp", 401),
    ):
        rid = response.headers["x-request-id"]
        assert rid in lines, (path, rid)
        logged = lines[rid]
        assert (logged["method"], logged["path"]) == (method, path)
        assert int(logged["status"]) == (status or response.status_code) == response.status_code
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert "hm_secret_in_a_link" not in everything and "very-secret-invitation-token" not in everything

    # the caller is told the id (and nothing of the internals); the log has the id and the whole traceback
    rid = boom.headers["x-request-id"]
    assert rid in boom.text and "SELECT" not in boom.text and "Traceback" not in boom.text
    failures = [r for r in caplog.records if r.name == "harmonia.server" and r.levelno == logging.ERROR]
    assert len(failures) == 1 and rid in failures[0].getMessage() and failures[0].exc_info

    assert (
        'resource_metadata="http://127.0.0.1:9123/.well-known/oauth-protected-resource/mcp"'
        in (unauthenticated.headers["www-authenticate"])
    )
    assert prm["resource"] == "http://127.0.0.1:9123/mcp"
