"""`harmonia upstreams add|list|remove` (SPEC §12) and `harmonia secrets rotate`, run in-process with typer's runner
against a workspace's database."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from harmonia.config import get_settings
from harmonia.surfaces.cli import app

from ..conftest import Workspace

pytestmark = pytest.mark.one_backend


@pytest.fixture
def env(acme: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    monkeypatch.setenv("HARMONIA_DATABASE_URL", acme.db.url)
    monkeypatch.setenv("HARMONIA_SECRETS_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("HARMONIA_INPROCESS_DISPATCH", "false")
    get_settings.cache_clear()
    yield {}
    get_settings.cache_clear()


def test_an_owner_adds_lists_and_removes_an_upstream_at_the_command_line_and_never_sees_a_header_value_again(
    acme: Workspace, env: dict[str, str]
) -> None:
    run = CliRunner().invoke
    added = run(app, ["upstreams", "add", "--tenant", acme.slug, "--name", "signl", "--url", "https://mcp.signl.example/mcp",
                      "--header", "Authorization=Bearer s3cret-upstream", "--scope", "mcp:write"])  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "toolset signl" in added.output
    listed = run(app, ["upstreams", "list", "--tenant", acme.slug])
    assert json.loads(listed.output.strip().splitlines()[-1]) == {
        "name": "signl", "url": "https://mcp.signl.example/mcp", "headers": ["Authorization"], "scope": "mcp:write",
        "sending_tools": []}  # fmt: skip
    assert "s3cret-upstream" not in listed.output
    refused = run(app, ["upstreams", "add", "--tenant", acme.slug, "--name", "notos", "--url", "http://10.0.0.5/mcp"])
    assert refused.exit_code == 2 and "must use https" in refused.output
    rotated = run(app, ["secrets", "rotate"])
    assert rotated.exit_code == 0 and "1 secret(s) re-encrypted" in rotated.output
    removed = run(app, ["upstreams", "remove", "--tenant", acme.slug, "--name", "signl"])
    assert removed.exit_code == 0 and acme.call("secrets_list")["items"] == []
