"""A seeded workspace served over real HTTP (uvicorn on a free loopback port) for the SDK's own client."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
import uvicorn

from harmonia.config import Settings
from harmonia.db import Database
from harmonia.seed import seed_demo
from harmonia.services.tenancy import create_token
from harmonia.surfaces.app import create_app

from ..conftest import Workspace


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_in_thread(app: Any, port: int | None = None) -> Iterator[str]:
    """Run `app` with uvicorn on `port` (default: a free loopback port) in a thread; yields its base URL, stops it
    after."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class Served:
    url: str
    db: Database
    ws: Workspace
    tokens: dict[str, str]


@pytest.fixture
def seeded(acme: Workspace) -> Workspace:
    seed_demo(acme.db, acme.slug, scale=300, anchor=date.today())
    return acme


@pytest.fixture
def served(seeded: Workspace, tmp_path: object) -> Iterator[Served]:
    ws = seeded
    tokens = {
        "all": create_token(ws.db, ws.slug, ws.owner.email, ["mcp:read", "mcp:write", "mcp:comms", "mcp:admin"]).secret,
        "read": create_token(ws.db, ws.slug, ws.owner.email, ["mcp:read"], "reader").secret,
    }
    settings = Settings(database_url=ws.db.url)
    with serve_in_thread(create_app(settings, ws.db)) as url:
        yield Served(url, ws.db, ws, tokens)
