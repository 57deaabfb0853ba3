"""The ASGI application of `harmonia serve`: web UI, REST API and MCP over Streamable HTTP, one process."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..config import Settings, get_settings
from ..db import Database

__all__ = ["create_app"]


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def create_app(settings: Settings | None = None, db: Database | None = None) -> Starlette:
    settings = settings or get_settings()
    db = db or Database(settings.database_url)
    app = Starlette(routes=[Route("/healthz", healthz)])
    app.state.db = db
    app.state.settings = settings
    return app
