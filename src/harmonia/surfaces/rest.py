"""The REST API under /api/v1, generated from the registry: every operation that declares `rest=(METHOD, path)` is a
route, with the same tokens, scopes, validation, audit and errors as MCP (channel `api`). The OpenAPI document at
/api/openapi.json is generated from the same pydantic models — never written by hand.

Arguments: path parameters, then the query string (GET/DELETE) or the JSON body (POST/PUT/PATCH). An
`Idempotency-Key` header becomes the operation's `idempotency_key`. Errors are `application/problem+json`.
"""

from __future__ import annotations

import logging
import re
import typing
from typing import Any

import anyio
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, request_response

from .. import __version__
from ..db import Actor
from ..errors import HarmoniaError, InvalidArguments, ScopeDenied
from ..ops.registry import Operation, Registry
from ..ops.schema import exclude_nul, input_schema, output_schema
from ..services.tenancy import authenticate
from .request_log import request_id_of

__all__ = ["install", "openapi"]

log = logging.getLogger("harmonia.rest")

PREFIX = "/api/v1"
_BODY_METHODS = {"POST", "PUT", "PATCH"}
MAX_BODY = 1024 * 1024  # bytes of a JSON body; the largest real one (an email body of 20,000 characters) is ~80 KB
MAX_DEPTH = 32  # nesting of a JSON body; the deepest argument is 3 levels down


class BodyTooLarge(InvalidArguments):
    code = "payload_too_large"
    http_status = 413


async def _json_body(request: Request) -> dict[str, Any] | None:
    """The JSON object of a body, or None when there is none; refuses (never crashes on) what it cannot take."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise BodyTooLarge(f"the request body is {int(declared):,} bytes; at most {MAX_BODY:,} are accepted")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise BodyTooLarge(f"the request body is over {MAX_BODY:,} bytes; at most {MAX_BODY:,} are accepted")
    if not raw:
        return None
    try:
        body = orjson.loads(bytes(raw))  # refuses invalid UTF-8, NaN and nesting past 1,024 levels; never recurses
    except orjson.JSONDecodeError:
        raise InvalidArguments("the request body is not valid JSON (UTF-8, no NaN or Infinity)") from None
    if not isinstance(body, dict):
        raise InvalidArguments("the request body must be a JSON object")
    if _depth(body) > MAX_DEPTH:
        raise InvalidArguments(f"the request body is nested more than {MAX_DEPTH} levels deep; flatten it")
    return body


def _depth(node: Any) -> int:
    """How deep `node` nests, without recursion (a hostile body may nest thousands of levels)."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                return depth
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


def _problem(error: HarmoniaError, request_id: str | None = None) -> JSONResponse:
    body = {"type": f"https://harmonia.dev/problems/{error.code}", "title": error.code.replace("_", " "),
            "status": error.http_status, "detail": error.message, **error.details}  # fmt: skip
    headers = {"X-Request-Id": request_id} if request_id else {}
    if isinstance(error, ScopeDenied):
        headers["WWW-Authenticate"] = f'Bearer error="insufficient_scope", scope="{error.required}"'
    elif error.http_status == 401:
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return JSONResponse(body, status_code=error.http_status, media_type="application/problem+json", headers=headers)


def _is_list(op: Operation, name: str) -> bool:
    field = op.input.model_fields.get(name)
    if field is None:
        return False
    origin = typing.get_origin(field.annotation)
    args = typing.get_args(field.annotation)
    return origin is list or any(typing.get_origin(a) is list for a in args)


def _endpoint(op: Operation) -> Any:
    async def endpoint(request: Request) -> Response:
        h = request.app.state.h
        auth = request.headers.get("authorization", "")
        secret = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        request_id = request_id_of(request)
        try:
            actor: Actor = await anyio.to_thread.run_sync(
                lambda: authenticate(h.db, secret, channel="api", request_id=request_id)
            )
            args: dict[str, Any] = {}
            if request.method in _BODY_METHODS:
                body = await _json_body(request)
                if body is not None:
                    if "idempotency_key" in body:
                        raise InvalidArguments("send the idempotency key in the Idempotency-Key header, not the body")
                    args.update(_integral_numbers(body))
            else:
                for key in request.query_params:
                    values = request.query_params.getlist(key)
                    args[key] = values if _is_list(op, key) else values[-1]
            args.update(request.path_params)
            idempotency = request.headers.get("idempotency-key")
            if idempotency and "idempotency_key" in op.input.model_fields:
                args["idempotency_key"] = idempotency
            strict = request.method in _BODY_METHODS
            result = await anyio.to_thread.run_sync(lambda: h.invoke(actor, op.name, args, strict=strict))
        except HarmoniaError as error:
            return _problem(error, request_id)
        except Exception:  # a fault of ours outside the registry's gate: logged whole, answered without internals
            log.exception("REST %s %s failed (request %s)", request.method, request.url.path, request_id)
            return _problem(HarmoniaError(f"the request failed unexpectedly; nothing more was changed. Quote request "
                                          f"id {request_id} to support."), request_id)  # fmt: skip
        status = 201 if request.method == "POST" and op.name.endswith("_create") else 200
        return JSONResponse(result.model_dump(mode="json", exclude_none=True), status_code=status,
                            headers={"X-Request-Id": request_id})  # fmt: skip

    return endpoint


def _rest_ops(registry: Registry) -> list[Operation]:
    return [op for op in registry if op.rest is not None]


def _components_refs(node: Any) -> Any:
    """Pydantic's `#/$defs/X` references, pointed at `#/components/schemas/X` where OpenAPI keeps them."""
    if isinstance(node, dict):
        return {k: (v.replace("#/$defs/", "#/components/schemas/") if k == "$ref" and isinstance(v, str)
                    else _components_refs(v)) for k, v in node.items()}  # fmt: skip
    if isinstance(node, list):
        return [_components_refs(v) for v in node]
    return node


def openapi(registry: Registry) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    problem = {"$ref": "#/components/schemas/Problem"}
    for op in _rest_ops(registry):
        assert op.rest is not None
        method, path = op.rest
        ins = exclude_nul(_components_refs(input_schema(op.input, compact=False)))
        defs = ins.pop("$defs", {})
        schemas.update(defs)
        path_params = re.findall(r"{(\w+)}", path)
        params = [{"name": p, "in": "path", "required": True, "schema": ins["properties"].get(p, {"type": "string"})}
                  for p in path_params]  # fmt: skip
        operation: dict[str, Any] = {
            "operationId": op.name, "summary": op.title, "description": op.description,
            "tags": [op.scope.value], "security": [{"bearer": [op.scope.value]}],
            "responses": {
                "200" if not (method == "POST" and op.name.endswith("_create")) else "201": {
                    "description": "the result", "content": {"application/json": {"schema": output_schema(op.output, compact=False)}}},
                **{str(code): {"description": text, "content": {"application/problem+json": {"schema": problem}}}
                   for code, text in ((401, "no valid token"), (403, "missing scope or role"), (404, "not found"),
                                      (409, "conflict or refused send"), (422, "invalid arguments"))},
                # The HTTP server itself refuses a request it cannot parse (bytes that are not a URL), before any
                # route sees it; its answer is plain text.
                "400": {"description": "a request the HTTP server cannot parse", "content": {"text/plain": {
                    "schema": {"type": "string"}}}},
            },
        }  # fmt: skip
        # The idempotency key travels in the Idempotency-Key header (below), never in a body or query string.
        rest_props = {k: v for k, v in ins["properties"].items() if k not in path_params and k != "idempotency_key"}
        required = [r for r in ins.get("required", []) if r not in path_params]
        if method in _BODY_METHODS:
            body_schema = {**ins, "properties": rest_props, "required": required} if required else {
                k: v for k, v in {**ins, "properties": rest_props}.items() if k != "required"}  # fmt: skip
            operation["requestBody"] = {
                "required": bool(required) or any(k in body_schema for k in ("oneOf", "anyOf", "allOf")),
                "content": {"application/json": {"schema": body_schema}},
            }
        else:
            for name, prop in rest_props.items():
                prop = _without_null(prop)  # a query string has no null: a parameter is given or left out
                params.append({"name": name, "in": "query", "required": name in required, "schema": prop,
                               **({"style": "form", "explode": True} if prop.get("type") == "array" else {})})  # fmt: skip
        if "idempotency_key" in op.input.model_fields:
            params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                           "schema": {"type": "string", "minLength": 8, "maxLength": 200}})  # fmt: skip
        if params:
            operation["parameters"] = params
        paths.setdefault(PREFIX + path, {})[method.lower()] = operation
    schemas["Problem"] = {"type": "object", "required": ["type", "title", "status", "detail"],
                          "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                                         "status": {"type": "integer"}, "detail": {"type": "string"}}}  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {"title": "Harmonia REST API", "version": __version__,
                 "description": "The same operations, tokens and scopes as Harmonia's MCP server."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }  # fmt: skip


def _integral_numbers(node: Any) -> Any:
    """JSON has one number type: 6.0 is the integer 6 (JSON Schema agrees), so strict validation must see 6."""
    if isinstance(node, float) and node.is_integer() and abs(node) < 2**63:
        return int(node)
    if isinstance(node, dict):
        return {k: _integral_numbers(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_integral_numbers(v) for v in node]
    return node


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    options = [o for o in prop.get("anyOf", []) if o != {"type": "null"}]
    if "anyOf" not in prop or len(options) == len(prop["anyOf"]):
        return prop
    rest = {k: v for k, v in prop.items() if k != "anyOf"}
    return {**options[0], **rest} if len(options) == 1 else {**rest, "anyOf": options}


async def openapi_endpoint(request: Request) -> JSONResponse:
    return JSONResponse(openapi(request.app.state.h.registry))


def _by_method(handlers: dict[str, Any]) -> Any:
    """One route per path, so a wrong method gets a 405 whose Allow header lists every method of the path."""

    async def endpoint(request: Request) -> Response:
        handler = handlers.get(request.method) or (handlers.get("GET") if request.method == "HEAD" else None)
        if handler is None:
            allow = ", ".join(sorted(handlers))
            error = HarmoniaError(f"{request.method} is not allowed here; use {allow}")
            return JSONResponse({"type": "about:blank", "title": "method not allowed", "status": 405,
                                 "detail": error.message}, status_code=405, headers={"Allow": allow},
                                media_type="application/problem+json")  # fmt: skip
        return await handler(request)  # type: ignore[no-any-return]

    return endpoint


class _AnyMethod:
    """An endpoint as an ASGI app: Starlette then routes every method to it (TRACE, QUERY…), where a function
    endpoint would be GET-only, and our dispatcher gives the 405."""

    def __init__(self, endpoint: Any) -> None:
        self.app = request_response(endpoint)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def install(app: Starlette) -> None:
    by_path: dict[str, dict[str, Any]] = {}
    for op in _rest_ops(app.state.h.registry):
        assert op.rest is not None
        method, path = op.rest
        by_path.setdefault(PREFIX + path, {})[method] = _endpoint(op)
    routes = [Route("/api/openapi.json", openapi_endpoint, methods=["GET"])]
    # Every method reaches the dispatcher, which answers 405 itself with the exact Allow header.
    routes += [Route(path, _AnyMethod(_by_method(handlers))) for path, handlers in by_path.items()]
    # Under /api, an unknown path is a problem+json 404, never the web UI's HTML page.
    routes.append(Route("/api/{rest:path}", _AnyMethod(_unknown_path)))
    app.router.routes.extend(routes)


async def _unknown_path(request: Request) -> Response:
    detail = f"there is no {request.url.path}; the operations are listed at /api/openapi.json"
    return JSONResponse({"type": "about:blank", "title": "not found", "status": 404, "detail": detail},
                        status_code=404, media_type="application/problem+json")  # fmt: skip
