"""The ASGI application of `harmonia serve`: web UI, REST API and MCP over Streamable HTTP, in one process.

Each surface module exposes `install(app)`, which adds its routes (and middleware) and may append an async context
manager factory to `app.state.lifespans` (the MCP session manager, the in-process outbox dispatcher…). The order of
installation is the order of route matching: MCP (the busiest) first; the web UI, with its catch-all pages, last.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..config import Settings, get_settings
from ..db import Database
from . import automation_runner, mcp_http, rest, web, webhooks

__all__ = ["create_app"]


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    async with AsyncExitStack() as stack:
        for factory in app.state.lifespans:
            await stack.enter_async_context(factory(app))
        yield
    if app.state.owns_db:
        app.state.db.dispose()


def create_app(settings: Settings | None = None, db: Database | None = None) -> Starlette:
    settings = settings or get_settings()
    app = Starlette(routes=[Route("/healthz", healthz)], lifespan=_lifespan)
    app.state.owns_db = db is None
    app.state.db = db or Database(settings.database_url)
    app.state.settings = settings
    app.state.lifespans = []
    for surface in (mcp_http, webhooks, rest, web):  # MCP first: the most requested paths match first
        surface.install(app)
    automation_runner.install(app)  # the workflow engine, in-process
    return app
