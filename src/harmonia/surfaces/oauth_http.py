"""The authorization server's machine endpoints, on the origin of `/mcp` (SPEC §9): metadata (RFC 9728 for the
resource, RFC 8414 for the server), registration (RFC 7591), token and revocation (RFC 7009). The authorize step is a
web page (surfaces/web/oauth_pages.py): a person signs in and consents there.

Metadata is built with the SDK's own models (`OAuthMetadata`, `ProtectedResourceMetadata`) so the SDK's client
reads exactly what it validates; the fields the SDK's server leaves out (CIMD, `none`, RFC 9207 `iss`) are set here.
"""

from __future__ import annotations

from typing import Any

import anyio
import orjson
from mcp.shared.auth import OAuthMetadata, ProtectedResourceMetadata
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..models import SCOPES
from ..services import oauth
from ..services.oauth import OAuthError

__all__ = ["ENDPOINT_SCOPES", "as_metadata", "install", "resource_metadata_url", "resources"]

# What each MCP endpoint asks for in its challenge: enough to work; mcp:admin comes by step-up.
ENDPOINT_SCOPES = {"/mcp": oauth.DEFAULT_SCOPES, "/mcp/readonly": ("mcp:read",)}
_CORS = {"access-control-allow-origin": "*", "access-control-allow-headers": "authorization, content-type, "
         "mcp-protocol-version", "access-control-allow-methods": "GET, POST, OPTIONS"}  # fmt: skip


def resource_metadata_url(public_url: str, path: str) -> str:
    return f"{public_url.rstrip('/')}/.well-known/oauth-protected-resource{path}"


def resources(public_url: str) -> dict[str, str]:
    """Resource URL → the endpoint path it names."""
    return {public_url.rstrip("/") + path: path for path in ENDPOINT_SCOPES}


def as_metadata(public_url: str) -> dict[str, Any]:
    base = public_url.rstrip("/")
    metadata = OAuthMetadata(
        issuer=base,  # type: ignore[arg-type]  # pydantic validates the string
        authorization_endpoint=f"{base}/oauth/authorize",  # type: ignore[arg-type]
        token_endpoint=f"{base}/oauth/token",  # type: ignore[arg-type]
        registration_endpoint=f"{base}/oauth/register",  # type: ignore[arg-type]
        revocation_endpoint=f"{base}/oauth/revoke",  # type: ignore[arg-type]
        scopes_supported=list(SCOPES),
        response_types_supported=["code"],
        grant_types_supported=["authorization_code", "refresh_token"],
        token_endpoint_auth_methods_supported=["none"],
        revocation_endpoint_auth_methods_supported=["none"],
        code_challenge_methods_supported=["S256"],
        client_id_metadata_document_supported=True,
        authorization_response_iss_parameter_supported=True,
    )
    document = metadata.model_dump(mode="json", exclude_none=True)
    document["issuer"] = base  # as configured: AnyHttpUrl would add a trailing slash to a bare origin
    return document


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json",
                    headers={"cache-control": "no-store", **_CORS, **(headers or {})})  # fmt: skip


def _error(error: OAuthError) -> Response:
    headers = {"www-authenticate": 'Bearer error="invalid_client"'} if error.status == 401 else None
    return _json({"error": error.error, "error_description": error.message}, error.status, headers)


def install(app: Starlette) -> None:
    settings = app.state.settings
    db = app.state.db
    public_url = settings.public_url.rstrip("/")
    known_resources = resources(public_url)

    async def protected_resource(request: Request) -> Response:
        path = "/" + request.path_params["path"]
        if path not in ENDPOINT_SCOPES:
            return _json({"error": "not_found", "error_description": f"no protected resource at {path}"}, 404)
        document = ProtectedResourceMetadata(
            resource=public_url + path,  # type: ignore[arg-type]
            authorization_servers=[public_url],  # type: ignore[list-item]
            scopes_supported=list(SCOPES) if path == "/mcp" else ["mcp:read"],
            bearer_methods_supported=["header"],
            resource_name="Harmonia CRM" + (" (read-only)" if path != "/mcp" else ""),
        ).model_dump(mode="json", exclude_none=True)
        document["resource"], document["authorization_servers"] = public_url + path, [public_url]
        return _json(document)

    async def server_metadata(request: Request) -> Response:
        return _json(as_metadata(public_url))

    async def register(request: Request) -> Response:
        if request.method == "OPTIONS":
            return _json({})
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _json({"error": "invalid_client_metadata", "error_description": "the body must be JSON"}, 400)
        remote = request.client.host if request.client else "unknown"
        try:
            client = await anyio.to_thread.run_sync(lambda: oauth.register_client(db, body, remote=remote))
        except OAuthError as error:
            return _error(error)
        return _json({"client_id": client.client_id, "client_name": client.name,
                      "redirect_uris": client.redirect_uris, "token_endpoint_auth_method": "none",
                      "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
                      "client_id_issued_at": int(client.created_at.timestamp())}, 201)  # fmt: skip

    async def token(request: Request) -> Response:
        if request.method == "OPTIONS":
            return _json({})
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        grant = form.get("grant_type", "")
        resource = form.get("resource") or None
        try:
            if resource is not None and resource.rstrip("/") not in known_resources:
                raise OAuthError("invalid_target", f"{resource} is not a resource of this server; use "
                                 f"{public_url}/mcp")  # fmt: skip
            client_id = form.get("client_id", "")
            if not client_id:
                raise OAuthError("invalid_client", "client_id is required (public clients send it in the body)", 401)
            if grant == "authorization_code":
                result = await anyio.to_thread.run_sync(lambda: oauth.exchange_code(
                    db, code=form.get("code", ""), client_id=client_id, redirect_uri=form.get("redirect_uri", ""),
                    code_verifier=form.get("code_verifier", ""), resource=resource))  # fmt: skip
            elif grant == "refresh_token":
                result = await anyio.to_thread.run_sync(lambda: oauth.refresh(
                    db, refresh_token=form.get("refresh_token", ""), client_id=client_id, resource=resource,
                    scope=form.get("scope")))  # fmt: skip
            else:
                raise OAuthError("unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
        except OAuthError as error:
            return _error(error)
        return _json(result.response())

    async def revoke(request: Request) -> Response:
        if request.method == "OPTIONS":
            return _json({})
        form = await request.form()
        secret = form.get("token")
        if isinstance(secret, str):
            await anyio.to_thread.run_sync(lambda: oauth.revoke_secret(db, secret))
        return _json({})

    app.router.routes.extend(
        [
            Route("/.well-known/oauth-protected-resource/{path:path}", protected_resource, methods=["GET"]),
            Route("/.well-known/oauth-authorization-server", server_metadata, methods=["GET"]),
            Route("/oauth/register", register, methods=["POST", "OPTIONS"]),
            Route("/oauth/token", token, methods=["POST", "OPTIONS"]),
            Route("/oauth/revoke", revoke, methods=["POST", "OPTIONS"]),
        ]
    )
