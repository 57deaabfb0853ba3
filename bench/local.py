"""MCP without the network: Harmonia's server in-process (the SDK's in-memory client) and over stdio (`harmonia mcp`
as a child process), each interleaved with the floor server over the same transport."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from .stats import interleave
from .workload import Pools, Workload

PY = sys.executable
HARMONIA = str(Path(PY).with_name("harmonia"))


async def local_latencies(path: Path, rounds: int, per_round: int) -> dict[str, Any]:
    from harmonia.bootstrap import bootstrap
    from harmonia.db import Database
    from harmonia.services.tenancy import authenticate, create_token
    from harmonia.surfaces.mcp_server import build_server
    from mcp import Client, StdioServerParameters

    from .floor import FloorStore
    from .floor import build_server as build_floor

    db = Database(f"sqlite:///{path}")
    token = create_token(db, "bench", "owner@bench.test", ["mcp:read"], "bench local").secret
    actor = authenticate(db, token, channel="mcp")
    work = Workload(Pools.load(str(path)))
    env = dict(os.environ, HARMONIA_TOKEN=token, HARMONIA_DATABASE_URL=f"sqlite:///{path}")
    stdio = StdioServerParameters(command=HARMONIA, args=["mcp"], env=env)
    floor_stdio = StdioServerParameters(command=PY, args=["-m", "bench.floor", "mcp-stdio", str(path)], env=env)
    try:
        async with (
            Client(build_server(bootstrap(db=db), actor=actor)) as inproc,
            Client(build_floor(FloorStore(str(path)))) as floor_inproc,
            Client(stdio) as over_stdio,  # type: ignore[arg-type]
            Client(floor_stdio) as floor_over_stdio,  # type: ignore[arg-type]
        ):

            def ours(client: Any) -> Any:
                async def call() -> int:
                    r = await client.call_tool("contacts_get", work.args("contacts_get"))
                    return len(r.content[0].text)

                return call

            def floor(client: Any) -> Any:
                async def call() -> int:
                    r = await client.call_tool("floor_get", {"contact_id": work.args("contacts_get")["contact_id"]})
                    return len(r.content[0].text)

                return call

            variants = {
                "inprocess:contacts_get": ours(inproc),
                "floor_inprocess:floor_get": floor(floor_inproc),
                "stdio:contacts_get": ours(over_stdio),
                "floor_stdio:floor_get": floor(floor_over_stdio),
            }
            samples = await interleave(variants, rounds=rounds, per_round=per_round)
            return {k: v.summary() for k, v in samples.items()}
    finally:
        db.dispose()
