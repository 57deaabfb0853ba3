"""`python -m bench soak --minutes 10`: the workload mix at a fixed rate for a bounded time, on PostgreSQL, with two
server processes and two outbox workers, sends delivered to a local SMTP server (aiosmtpd).

Reports per minute p50/p99 and errors, RSS of every process at the start and the end, and messages lost or
duplicated: every `email_send` that answered with a message id must arrive at the SMTP server exactly once (matched by
the `Message-ID` Harmonia writes, `<message id@harmonia>`), after the workers have drained the outbox.

`python -m bench scaleout`: `harmonia serve --workers N` on PostgreSQL, N = 1, 2, 4, `tools/call contacts_get` with
wrk at 16 and 64 connections.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from . import pg
from .stats import percentile
from .workload import Workload

HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25",
           "Content-Type": "application/json"}  # fmt: skip
MESSAGE_ID = re.compile(rb"^Message-ID:\s*<([^@>]+)@harmonia>", re.MULTILINE | re.IGNORECASE)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    """The SMTP server's side: how many times each Harmonia message arrived."""

    def __init__(self) -> None:
        self.received: collections.Counter[str] = collections.Counter()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        found = MESSAGE_ID.search(envelope.original_content or envelope.content)
        if found:
            self.received[found.group(1).decode()] += 1
        return "250 OK"


async def _drive(ports: list[int], token: str, work: Workload, rate: float, seconds: float) -> dict[str, Any]:
    """Start one call every 1/rate s (open loop: a slow answer does not slow the schedule), alternating servers."""
    import httpx

    samples: list[tuple[int, str, float, bool, str]] = []  # (minute, kind, ms, ok, error text)
    sent: list[str] = []
    headers = HEADERS | {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def one(i: int, kind: str, tool: str, started: float) -> None:
            body = {"jsonrpc": "2.0", "id": i, "method": "tools/call",
                    "params": {"name": tool, "arguments": work.args(kind)}}  # fmt: skip
            t0 = time.perf_counter()
            error = ""
            try:
                r = await client.post(f"http://127.0.0.1:{ports[i % len(ports)]}/mcp", json=body, headers=headers)
                result = r.json().get("result") if r.status_code == 200 else None
                if result is None:
                    error = f"HTTP {r.status_code}: {r.text[:120]}"
                elif result.get("isError"):
                    error = result["content"][0]["text"][:120]
                elif tool == "email_send":
                    sent.append(result["structuredContent"]["id"])
            except Exception as exc:  # a benchmark counts failures, whatever they are
                error = f"{type(exc).__name__}: {exc}"[:120]
            ms = (time.perf_counter() - t0) * 1000
            samples.append((int((t0 - started) // 60), kind, ms, not error, error))

        started = time.perf_counter()
        tasks = []
        i = 0
        while (due := started + i / rate) < started + seconds:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            kind, tool = work.pick()
            tasks.append(asyncio.create_task(one(i, kind, tool, started)))
            i += 1
        await asyncio.gather(*tasks)
    minutes: dict[int, dict[str, Any]] = {}
    for minute in sorted({s[0] for s in samples}):
        ms = [s[2] for s in samples if s[0] == minute and s[3]]
        minutes[minute] = {"calls": sum(1 for s in samples if s[0] == minute), "p50": percentile(ms, 0.5),
                           "p99": percentile(ms, 0.99), "errors": sum(1 for s in samples if s[0] == minute and not s[3])}  # fmt: skip
    errors = collections.Counter(s[4] for s in samples if not s[3])
    return {"minutes": minutes, "calls": len(samples), "sent": sent, "errors": dict(errors.most_common(5))}


def _outbox_left(owner_url: str, ids: list[str]) -> int:
    import psycopg

    if not ids:
        return 0
    dsn = owner_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM messages WHERE id = ANY(%s) AND status IN ('queued', 'sending')",
                           (ids,)).fetchone()  # fmt: skip
    return int(row[0]) if row else 0


def soak(minutes: float, rate: float, scale: int) -> dict[str, Any]:
    from aiosmtpd.controller import Controller

    owner, app, _ = pg.dataset(scale)
    token = pg.token_and_outbound(owner)
    work = Workload(pg.pools(owner))
    inbox = Inbox()
    smtp_port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    environment = pg.env(app, HARMONIA_SMTP_URL=f"smtp://127.0.0.1:{smtp_port}", HARMONIA_INPROCESS_DISPATCH="false")
    ports = [_free_port(), _free_port()]
    procs = [pg.start(["serve", "--port", str(p)], environment, p) for p in ports]
    procs += [pg.start(["worker"], environment) for _ in range(2)]
    names = ["server 1", "server 2", "worker 1", "worker 2"]
    try:
        asyncio.run(_drive(ports, token, work, rate, 10))  # warm-up: imports, pools, caches
        rss_start = {n: pg.rss_mb(p.pid) for n, p in zip(names, procs, strict=True)}
        rss_by_minute: list[dict[str, float]] = []  # a curve, not two points: warm-up plateau or steady growth
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(60):
                rss_by_minute.append({n: pg.rss_mb(p.pid) for n, p in zip(names, procs, strict=True)})

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            result = asyncio.run(_drive(ports, token, work, rate, minutes * 60))
        finally:
            stop.set()
            sampler.join(timeout=5)
        rss_end = {n: pg.rss_mb(p.pid) for n, p in zip(names, procs, strict=True)}
        deadline = time.monotonic() + 120
        while _outbox_left(owner, result["sent"]) and time.monotonic() < deadline:
            time.sleep(1)
        time.sleep(2)  # the last delivery's SMTP transaction
    finally:
        pg.stop(procs)
        controller.stop()
    sent = result.pop("sent")
    lost = [m for m in sent if inbox.received[m] == 0]
    duplicated = [m for m in sent if inbox.received[m] > 1]
    return {"minutes_run": minutes, "rate_per_s": rate, "scale": scale, **result, "emails_sent": len(sent),
            "emails_lost": len(lost), "emails_duplicated": len(duplicated), "rss_start_mb": rss_start,
            "rss_end_mb": rss_end, "rss_by_minute_mb": rss_by_minute}  # fmt: skip


def scaleout(scale: int, workers: list[int], connections: list[int], seconds: int) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    owner, app, _ = pg.dataset(scale)
    token = pg.token_and_outbound(owner)
    contact_id = pg.pools(owner, n=1).contact_ids[0]
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "contacts_get", "arguments": {"contact_id": contact_id}}})  # fmt: skip
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        lua = Path(tmp) / "call.lua"
        lua.write_text('wrk.method = "POST"\nwrk.body = ' + json.dumps(body) + "\n" + "".join(
            f'wrk.headers["{k}"] = "{v}"\n' for k, v in (HEADERS | {"Authorization": f"Bearer {token}"}).items()))  # fmt: skip
        for n in workers:
            port = _free_port()
            proc = pg.start(["serve", "--port", str(port), "--workers", str(n)], pg.env(app), port)
            try:
                subprocess.run(["wrk", "-t2", "-c16", "-d2s", "-s", str(lua), f"http://127.0.0.1:{port}/mcp"],
                               capture_output=True, timeout=60)  # warm every worker process  # fmt: skip
                for c in connections:
                    done = subprocess.run(["wrk", "-t2", f"-c{c}", f"-d{seconds}s", "--latency", "-s", str(lua),
                                           f"http://127.0.0.1:{port}/mcp"], capture_output=True, text=True,
                                          timeout=seconds + 60)  # fmt: skip
                    text = done.stdout
                    rps = next((float(x.split()[1]) for x in text.splitlines() if "Requests/sec" in x), 0.0)
                    p50 = next((x.split()[1] for x in text.splitlines() if x.strip().startswith("50%")), "?")
                    p99 = next((x.split()[1] for x in text.splitlines() if x.strip().startswith("99%")), "?")
                    non2xx = next((x.strip() for x in text.splitlines() if "Non-2xx" in x), "")
                    out[f"N{n}_c{c}"] = {"rps": rps, "p50": p50, "p99": p99, "non2xx": non2xx}
                    print(f"N={n} c={c}: {rps:.0f} calls/s p50 {p50} p99 {p99} {non2xx}", flush=True)
            finally:
                pg.stop([proc])
    return out


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench soak|scaleout")
    parser.add_argument("command", choices=["soak", "scaleout"])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=40, help="calls per second, all servers together")
    parser.add_argument("--scale", type=int, default=10_000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--connections", default="16,64")
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args(argv)
    from .report import ROOT

    if args.command == "soak":
        result = soak(args.minutes, args.rate, args.scale)
    else:
        result = scaleout(args.scale, [int(n) for n in args.workers.split(",")],
                          [int(c) for c in args.connections.split(",")], args.seconds)  # fmt: skip
    path = ROOT / "bench" / "results" / f"{args.command}.json"
    path.write_text(json.dumps(result, indent=1, default=str))
    print(json.dumps(result, indent=1, default=str))
