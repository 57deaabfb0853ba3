"""The server-rendered web UI: Jinja2 pages over the operations registry, no front-end build step.

Sessions are signed cookies (Starlette's SessionMiddleware) that hold only who signed in and a CSRF token; the person's
role and status are re-read on every request. Mounted last, under everything else, so /api, /mcp and the webhooks
keep their own routes and never see a session cookie being parsed.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from ...config import Settings
from . import (
    auth,
    automation_pages,
    draft_pages,
    import_pages,
    lender_pages,
    oauth_pages,
    pages,
    record_pages,
    report_pages,
    settings_pages,
    tools_pages,
)
from .kit import HERE, templates

__all__ = ["install"]

log = logging.getLogger("harmonia.web")
_DEV_KEY = "dev-only-change-me"
SESSION_DAYS = 14


def _secret_key(settings: Settings) -> str:
    if settings.secret_key == _DEV_KEY:
        log.warning("HARMONIA_SECRET_KEY is not set: using a random key, so sessions end when the server restarts")
        return secrets.token_urlsafe(32)
    return settings.secret_key


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = "There is no page here." if status == 404 else "This page could not be shown."
    context = {"status": status, "message": message, "person": None, "flashes": [], "csrf": "", "bare": True,
               "ui": None, "outbound_enabled": False, "values": {}}  # fmt: skip
    return templates.TemplateResponse(request, "error.html", context, status_code=status)


# Every page: never framed (clickjacking), never sniffed into another type, the full URL never sent to another site
# (invitation links carry a secret), and never kept by a browser or proxy cache — pages show tokens, phone numbers
# and message bodies; only the static files may be cached.
SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'; base-uri 'self'; form-action 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)
NO_STORE = ((b"cache-control", b"no-store"), (b"pragma", b"no-cache"))


class SecurityHeaders:
    """Adds `SECURITY_HEADERS` to every web response, and `no-store` to every one outside /static."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if cacheable or k.lower() != b"cache-control"]
                present = {k.lower() for k, _ in headers}  # a page that sets its own (the consent page's CSP) keeps it
                extra = SECURITY_HEADERS if cacheable else SECURITY_HEADERS + NO_STORE
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: Starlette) -> None:
    """Add the web UI under everything else, sharing the app's database and settings."""
    settings: Settings = app.state.settings
    routes = [
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
        *auth.ROUTES,
        *import_pages.ROUTES,  # before pages: /contacts/import is not a contact id
        *record_pages.ROUTES,  # before pages: /deals/new is not a deal id
        *lender_pages.ROUTES,
        *pages.ROUTES,
        *report_pages.ROUTES,
        *settings_pages.ROUTES,
        *oauth_pages.ROUTES,
        *automation_pages.ROUTES,
        *tools_pages.ROUTES,
        *draft_pages.ROUTES,
    ]
    key = _secret_key(settings)
    # The secret that signs invitation links must be the same one the session uses, and stable per process.
    app.state.web_secret = key
    web = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(
                SessionMiddleware,
                secret_key=key,
                session_cookie="harmonia_session",
                max_age=SESSION_DAYS * 86400,
                same_site="lax",
                https_only=settings.public_url.startswith("https://"),
            ),
        ],
        exception_handlers={404: _not_found, 405: _not_found},
    )
    web.state.h = app.state.h
    web.state.db = app.state.db
    web.state.settings = settings
    web.state.web_secret = key
    app.router.routes.append(Mount("", app=web, name="web"))
