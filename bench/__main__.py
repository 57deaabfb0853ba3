"""`make bench`: Harmonia measured against its floor, per dataset size. `--quick` only proves the harness runs.

For every scale: build (or reuse) a deterministic dataset — the demo seed's generator, two tenants, the *other*
tenant holding 60% of the rows so isolation is exercised — then, in one process and interleaved in shuffled rounds:

- service layer: `h.invoke()` (the composition root's registry) per tool of the workload mix (p50/p90/p99, response bytes and tokens);
- MCP over Streamable HTTP (`harmonia serve`, SDK client) against the floor (the same SDK serving one tool doing the
  same indexed query) and a plain REST endpoint doing that query;
- throughput at 1 and 16 connections with wrk (a C load generator), Harmonia's `/mcp` against the floor's;
- server RSS, database size, `tools/list` bytes, stdio cold start, seed time, outbox queue-to-delivery.

Results: `bench/results/<scale>.json` and `docs/benchmarks.md` (+ `docs/benchmarks-latency.png`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .local import local_latencies
from .report import ROOT, machine, plot_growth, write_json
from .stats import interleave, percentile
from .workload import MIX, Pools, Workload

CACHE = ROOT / "bench" / ".cache"
RAW_HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
PY = sys.executable
HARMONIA = str(Path(PY).with_name("harmonia"))


def build_dataset(scale: int) -> tuple[Path, float]:
    """A cached database with tenants `bench` (40% of `scale` contacts) and `other` (60%)."""
    from harmonia.db import Database
    from harmonia.migrate import upgrade
    from harmonia.seed import seed_demo
    from harmonia.services.tenancy import create_tenant

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"harmonia-{scale}.db"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        upgrade(f"sqlite:///{path}")  # a dataset cached by an older checkout gets the newer indexes
        cached = Database(f"sqlite:///{path}")
        cached.analyze()
        cached.dispose()
        return path, float(json.loads(meta.read_text())["seed_seconds"])
    path.unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    upgrade(url)
    db = Database(url)
    create_tenant(db, "bench", owner_email="owner@bench.test")
    create_tenant(db, "other", owner_email="owner@other.test")
    t0 = time.perf_counter()
    seed_demo(db, "other", scale=scale - scale * 4 // 10, seed=2, progress=scale >= 100_000)
    seed_demo(db, "bench", scale=scale * 4 // 10, seed=1, progress=scale >= 100_000)
    seconds = time.perf_counter() - t0
    db.dispose()  # the last connection to close checkpoints the WAL
    meta.write_text(json.dumps({"seed_seconds": seconds}))
    return path, seconds


def warm_page_cache(path: Path) -> float:
    """Read the database file once so its pages are in the OS page cache, as a running server's are.

    Without it the first scale measured after a build or a reboot times this VM's disk, not Harmonia: at 1M the file is
    3.3 GB and random ids touch pages the kernel had evicted (contacts_get read 2.2 ms instead of 0.3 ms)."""
    t0 = time.perf_counter()
    with path.open("rb") as f:
        while f.read(1 << 24):
            pass
    return time.perf_counter() - t0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(cmd: list[str], env: dict[str, str], port: int | None) -> subprocess.Popen[bytes]:
    """Start a server and wait until its port answers HTTP (any status: the floors have no /healthz)."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if port is not None:
        import httpx

        deadline = time.monotonic() + 120  # a loaded machine starts slowly
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
    return proc


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    """VmRSS, or RssAnon (the process's own memory, without the database pages SQLite maps from the file)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def service_latencies(path: Path, n: int, smtp_url: str) -> dict[str, Any]:
    from harmonia.bootstrap import bootstrap
    from harmonia.config import get_settings
    from harmonia.db import Database
    from harmonia.services.tenancy import get_tenant, owner_actor, set_outbound

    os.environ["HARMONIA_SMTP_URL"] = smtp_url
    get_settings.cache_clear()
    db = Database(f"sqlite:///{path}")
    tenant = get_tenant(db, "bench")
    actor = owner_actor(db, tenant.id, channel="mcp")
    if not tenant.outbound_enabled:
        set_outbound(db, "bench", True, actor=owner_actor(db, tenant.id, channel="cli"), reason="benchmark")
    # The default send budget (200 emails an hour) would refuse the workload's sends on a second run within the hour.
    h = bootstrap(db=db)
    h.invoke(actor, "settings_update", {"send_budget_per_hour": {"email": 1_000_000}})
    work = Workload(Pools.load(str(path)))
    out: dict[str, Any] = {}
    for kind, tool, _ in MIX:
        ms, sizes, errors = [], [], 0
        for _ in range(n):
            args = work.args(kind)
            t0 = time.perf_counter_ns()
            try:
                result = h.invoke(actor, tool, args)
            except Exception:
                errors += 1
                continue
            ms.append((time.perf_counter_ns() - t0) / 1e6)
            sizes.append(len(json.dumps(result.model_dump(mode="json", exclude_none=True), separators=(",", ":"))))
        out[kind] = {"tool": tool, "n": len(ms), "errors": errors, "p50": percentile(ms, 0.5),
                     "p90": percentile(ms, 0.9), "p99": percentile(ms, 0.99),
                     "bytes": int(sorted(sizes)[len(sizes) // 2]) if sizes else None}  # fmt: skip
    with db.engine.connect() as conn:
        lag = conn.exec_driver_sql(
            "SELECT (julianday(sent_at) - julianday(queued_at)) * 86400000 FROM messages "
            "WHERE queued_at IS NOT NULL AND sent_at IS NOT NULL AND provider = 'smtp'"
        ).fetchall()  # fmt: skip
    out["_queue_to_delivery_ms"] = {"p50": percentile([r[0] for r in lag], 0.5), "n": len(lag)}
    h.close()
    db.dispose()
    return out


async def transport_latencies(path: Path, rounds: int, per_round: int) -> dict[str, Any]:
    import httpx
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    from harmonia.db import Database
    from harmonia.services.tenancy import create_token
    from mcp import Client

    db = Database(f"sqlite:///{path}")
    token = create_token(db, "bench", "owner@bench.test", ["mcp:read", "mcp:write", "mcp:comms", "mcp:admin"]).secret
    db.dispose()
    env = dict(os.environ, HARMONIA_DATABASE_URL=f"sqlite:///{path}")
    hp, fp, rp = _free_port(), _free_port(), _free_port()
    harmonia = _start([HARMONIA, "serve", "--port", str(hp)], env, hp)
    floor = _start([PY, "-m", "bench.floor", "mcp-http", str(path), str(fp)], env, fp)
    rest = _start([PY, "-m", "bench.floor", "rest", str(path), str(rp)], env, rp)
    pools = Pools.load(str(path))
    work = Workload(pools)
    result: dict[str, Any] = {}
    try:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as h,
            Client(streamable_http_client(f"http://127.0.0.1:{hp}/mcp", http_client=h)) as mcp_client,  # type: ignore[arg-type]
            Client(f"http://127.0.0.1:{fp}/mcp") as floor_client,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{rp}") as rest_client,
            httpx.AsyncClient(timeout=30) as raw_http,
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{hp}/api/v1", headers={"Authorization": f"Bearer {token}"}
            ) as harmonia_rest,  # fmt: skip
        ):
            tools_list = await mcp_client.list_tools()
            result["tools_list_count"] = len(tools_list.tools)

            def mcp_call(kind: str, tool: str) -> Any:
                async def call() -> int:
                    r = await mcp_client.call_tool(tool, work.args(kind))
                    return len(r.content[0].text) if r.content else 0  # type: ignore[union-attr]

                return call

            async def floor_call() -> int:
                r = await floor_client.call_tool("floor_get", {"contact_id": work.args("contacts_get")["contact_id"]})
                return len(r.content[0].text)  # type: ignore[union-attr]

            async def rest_call() -> int:
                r = await rest_client.get(f"/contacts/{work.args('contacts_get')['contact_id']}")
                return len(r.content)

            variants = {f"mcp_http:{kind}": mcp_call(kind, tool) for kind, tool, _ in MIX
                        if tool not in ("email_send",)}  # fmt: skip
            variants["floor_mcp_http:floor_get"] = floor_call
            variants["floor_rest:get"] = rest_call

            async def harmonia_rest_call() -> int:
                r = await harmonia_rest.get(f"/contacts/{work.args('contacts_get')['contact_id']}")
                return len(r.content)

            variants["harmonia_rest:contacts_get"] = harmonia_rest_call

            # The SDK client parses every result into its models and checks it against the tool's outputSchema, in
            # the client's process, and Harmonia's results are larger than the floor's. The same JSON-RPC POST from a
            # plain HTTP client separates what the server costs from what the SDK client adds.
            def raw_call(port: int, tool: str, auth: dict[str, str]) -> Any:
                async def call() -> int:
                    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                            "params": {"name": tool, "arguments": {"contact_id": work.args("contacts_get")["contact_id"]}}}  # fmt: skip
                    r = await raw_http.post(f"http://127.0.0.1:{port}/mcp", json=body, headers=RAW_HEADERS | auth)
                    return len(r.content)

                return call

            variants["raw_http:contacts_get"] = raw_call(hp, "contacts_get", {"Authorization": f"Bearer {token}"})
            variants["floor_raw_http:floor_get"] = raw_call(fp, "floor_get", {})
            samples = await interleave(variants, rounds=rounds, per_round=per_round)
            result["latency"] = {k: v.summary() for k, v in samples.items()}
        result["throughput"] = _throughput(hp, fp, token, pools.contact_ids[0])
        result["server_rss_mb"] = round(_rss_mb(harmonia.pid), 1)
        result["server_rss_anon_mb"] = round(_rss_mb(harmonia.pid, "RssAnon"), 1)
    finally:
        for proc in (harmonia, floor, rest):
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return result


def _throughput(hp: int, fp: int, token: str, contact_id: str) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        return {"skipped": "wrk is not installed (apt-get install wrk)"}
    out: dict[str, Any] = {}
    bodies = {
        "harmonia": (hp, "contacts_get", {"contact_id": contact_id}, token),
        "floor": (fp, "floor_get", {"contact_id": contact_id}, None),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, (port, tool, args, tok) in bodies.items():
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool,
                               "arguments": args}})  # fmt: skip
            headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                       "MCP-Protocol-Version": "2025-11-25"}  # fmt: skip
            if tok:
                headers["Authorization"] = f"Bearer {tok}"
            lua = Path(tmp) / f"{name}.lua"
            lua.write_text('wrk.method = "POST"\nwrk.body = ' + json.dumps(body) + "\n" + "".join(
                f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items()))  # fmt: skip
            for conns in (1, 16):
                done = subprocess.run(["wrk", "-t1", f"-c{conns}", "-d4s", "-s", str(lua), f"http://127.0.0.1:{port}/mcp"],
                                      capture_output=True, text=True, timeout=60)  # fmt: skip
                rps = next((float(line.split()[1]) for line in done.stdout.splitlines() if "Requests/sec" in line), 0.0)
                out[f"{name}_c{conns}_rps"] = rps
    return out


def stdio_cold_start(path: Path, runs: int = 5) -> dict[str, float]:
    """Spawn → initialize → one tool call → exit, as an AI client does per conversation: Harmonia's `harmonia mcp`
    and the floor's stdio server (the SDK alone: most of a cold start is importing Python, pydantic and the SDK),
    interleaved; the median of `runs` each."""
    import anyio

    from harmonia.db import Database
    from harmonia.services.tenancy import create_token
    from mcp import Client, StdioServerParameters

    db = Database(f"sqlite:///{path}")
    token = create_token(db, "bench", "owner@bench.test", ["mcp:read"]).secret
    db.dispose()
    env = dict(os.environ, HARMONIA_TOKEN=token, HARMONIA_DATABASE_URL=f"sqlite:///{path}")
    ours = (StdioServerParameters(command=HARMONIA, args=["mcp"], env=env), "pipelines_list", {})
    floor = (StdioServerParameters(command=PY, args=["-m", "bench.floor", "mcp-stdio", str(path)], env=env,
                                   cwd=str(ROOT)), "floor_get", {"contact_id": "ct_none"})  # fmt: skip
    times: dict[str, list[float]] = {"harmonia": [], "floor": []}

    async def once(server: StdioServerParameters, tool: str, arguments: dict[str, str]) -> None:
        async with Client(server) as c:  # type: ignore[arg-type]
            await c.call_tool(tool, arguments)

    for _ in range(runs):
        for name, (server, tool, arguments) in (("harmonia", ours), ("floor", floor)):
            t0 = time.perf_counter()
            anyio.run(once, server, tool, arguments)
            times[name].append(time.perf_counter() - t0)
    median = {name: round(sorted(ts)[len(ts) // 2], 3) for name, ts in times.items()}
    return {"stdio_cold_start_s": median["harmonia"], "floor_stdio_cold_start_s": median["floor"]}


def main() -> None:
    if sys.argv[1:2] in (["soak"], ["scaleout"]):  # PostgreSQL, several processes: bench/soak.py
        from .soak import main as soak_main

        soak_main(sys.argv[1:])
        return
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="tiny dataset, few calls: proves the harness runs")
    parser.add_argument("--scales", default="10000,100000")
    parser.add_argument("--calls", type=int, default=200, help="service-layer calls per tool")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=40)
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    parser.add_argument("--report-only", action="store_true", help="rewrite docs from bench/results/*.json")
    parser.add_argument("--local-only", action="store_true",
                        help="measure only in-process and stdio MCP, adding them to bench/results/*.json")  # fmt: skip
    args = parser.parse_args()
    scales = [2000] if args.quick else [int(s) for s in args.scales.split(",")]
    if args.local_only:
        for scale in scales:
            path, _ = build_dataset(scale)
            file = ROOT / "bench" / "results" / f"{scale}.json"
            saved = json.loads(file.read_text())
            saved["local_latency"] = asyncio.run(local_latencies(path, args.rounds, args.per_round))
            write_json(saved, str(scale))
            print(f"[{scale}] in-process and stdio measured", flush=True)
        args.report_only = True
    if args.report_only:
        from harmonia.surfaces.docs_gen import tools_list_bytes

        from .markdown import write_markdown

        loaded = {s: json.loads((ROOT / "bench" / "results" / f"{s}.json").read_text()) for s in scales}
        growth = {kind: {s: r["service"][kind]["p50"] for s, r in loaded.items()} for kind, _, _ in MIX}
        plot_growth(growth, ROOT / "docs" / "benchmarks-latency.png")
        write_markdown(
            {"machine": machine(), "tools_list_bytes": tools_list_bytes(), "results": loaded},
            ROOT / "docs" / "benchmarks.md",
            "--scales " + args.scales,
        )
        return
    if args.quick:
        args.calls, args.rounds, args.per_round, args.no_docs = 5, 1, 3, True

    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    smtp_port = _free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    results: dict[int, dict[str, Any]] = {}
    try:
        for scale in scales:
            path, seed_seconds = build_dataset(scale)
            print(f"[{scale}] dataset ready ({seed_seconds:.1f} s seed)", flush=True)
            print(f"[{scale}] database file read into the page cache in {warm_page_cache(path):.1f} s", flush=True)
            service = service_latencies(path, args.calls, f"smtp://127.0.0.1:{smtp_port}")
            print(f"[{scale}] service layer measured", flush=True)
            transport = asyncio.run(transport_latencies(path, args.rounds, args.per_round))
            transport["local_latency"] = asyncio.run(local_latencies(path, args.rounds, args.per_round))
            print(f"[{scale}] transports measured", flush=True)
            results[scale] = {"scale": scale, "seed_seconds": round(seed_seconds, 1),
                              "db_mb": round(path.stat().st_size / 1e6, 1), "service": service, **transport,
                              **stdio_cold_start(path)}  # fmt: skip
            write_json(results[scale], f"quick-{scale}" if args.quick else str(scale))
    finally:
        controller.stop()
    from harmonia.surfaces.docs_gen import tools_list_bytes

    summary = {"machine": machine(), "tools_list_bytes": tools_list_bytes(), "results": results}
    if not args.no_docs:
        from .markdown import write_markdown

        growth = {kind: {s: r["service"][kind]["p50"] for s, r in results.items()} for kind, _, _ in MIX}
        plot_growth(growth, ROOT / "docs" / "benchmarks-latency.png")
        write_markdown(summary, ROOT / "docs" / "benchmarks.md", " ".join(sys.argv[1:]))
    print(json.dumps({s: {"seed_s": r["seed_seconds"], "rss_mb": r.get("server_rss_mb")} for s, r in results.items()}))


if __name__ == "__main__":
    main()
