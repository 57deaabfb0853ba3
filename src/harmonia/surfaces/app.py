"""The ASGI application of `harmonia serve`: web UI, REST API and MCP over Streamable HTTP, in one process.

Each surface module exposes `install(app)`, which adds its routes (and middleware) and may append an async context
manager factory to `app.state.lifespans` (the MCP session manager, the in-process outbox dispatcher…). The order of
installation is the order of route matching: MCP (the busiest) first; the web UI, with its catch-all pages, last.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..bootstrap import Harmonia, bootstrap
from ..config import Settings, url_host
from ..db import Database
from . import automation_runner, imports_http, mcp_http, oauth_http, rest, web, webhooks
from .request_log import RequestLog, request_id_of

__all__ = ["create_app"]

log = logging.getLogger("harmonia.server")


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


async def _no_route(request: Request, exc: Exception) -> PlainTextResponse:
    """What no surface claimed (a path no route pattern can match, e.g. with a line break in it): still a sentence."""
    return PlainTextResponse("There is no page at this address. Check the link, or start from / (the pipeline); "
                             "the API is described at /api/openapi.json.", status_code=404)  # fmt: skip


async def _failed(request: Request, exc: Exception) -> Response:
    """A fault nothing else caught (RequestLog logs it whole): a sentence with the request id, JSON for the API."""
    rid = request_id_of(request)
    message = f"Something went wrong on our side; nothing more was done. Quote request id {rid} to support."
    if request.url.path.startswith(("/api/", "/mcp")):
        return JSONResponse({"title": "Internal error", "status": 500, "detail": message, "request_id": rid},
                            status_code=500, media_type="application/problem+json")  # fmt: skip
    return PlainTextResponse(message, status_code=500)


class _App(Starlette):
    def build_middleware_stack(self) -> Any:
        # outside Starlette's error middleware: the log line has the status the caller got, 500s included
        return RequestLog(super().build_middleware_stack())


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    async with AsyncExitStack() as stack:
        for factory in app.state.lifespans:
            await stack.enter_async_context(factory(app))
        settings = app.state.settings
        if settings.public_url_is_guess and settings.host in ("0.0.0.0", "::"):
            log.warning("listening on every interface without HARMONIA_PUBLIC_URL: links and the OAuth resource say "
                        "%s; set HARMONIA_PUBLIC_URL to the address other machines use", settings.public_url)  # fmt: skip
        log.info("ready on http://%s:%s (web UI /, MCP /mcp, REST /api/v1); public URL %s; process %d",
                 url_host(settings.host), settings.port, settings.public_url, os.getpid())  # fmt: skip
        yield
    if app.state.owns_root:
        app.state.h.close()


def create_app(settings: Settings | None = None, db: Database | None = None, *, h: Harmonia | None = None) -> Starlette:
    """The ASGI app over a composition root: `h` when given (it stays the caller's to close), else one built by
    `bootstrap(settings, db=db)` and closed at shutdown. `uvicorn --factory harmonia.surfaces.app:create_app`."""
    owns_root = h is None
    h = h or bootstrap(settings, db=db)
    app = _App(routes=[Route("/healthz", healthz)], lifespan=_lifespan,
               exception_handlers={404: _no_route, 500: _failed})  # fmt: skip
    app.state.owns_root = owns_root
    app.state.h = h
    app.state.db = h.db
    app.state.settings = h.settings
    app.state.lifespans = []
    app.state.providers = h.providers
    for surface in (mcp_http, oauth_http, webhooks, imports_http, rest, web):  # MCP first: the busiest paths
        surface.install(app)
    automation_runner.install(app)  # the workflow engine, in-process
    return app
