"""The floor every Harmonia figure is divided by, measured in the same run on the same machine.

- MCP floor: the same SDK (`mcp` low-level `Server`) serving one tool, `floor_get`, that runs the same indexed query
  as `contacts_get`'s core (one contact by id) with a single shared SQLite connection, no audit, no validation —
  over the same transports (stdio; Streamable HTTP with JSON responses, stateless).
- REST floor: a plain Starlette endpoint doing that same query.

Run as a process: `python -m bench.floor mcp-stdio DB` | `mcp-http DB PORT` | `rest DB PORT`.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from contextlib import asynccontextmanager
from typing import Any

import mcp.types as types
from mcp.server import Server, ServerRequestContext

FLOOR_TOOL = types.Tool(
    name="floor_get",
    description="One contact by id (benchmark floor).",
    input_schema={
        "type": "object",
        "properties": {"contact_id": {"type": "string"}},
        "required": ["contact_id"],
        "additionalProperties": False,
    },
    annotations=types.ToolAnnotations(read_only_hint=True, open_world_hint=False),
)

QUERY = (
    "SELECT id, first_name, last_name, email, phone, title, account_id, owner_id, updated_at "
    "FROM contacts WHERE tenant_id = ? AND id = ?"
)


class FloorStore:
    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, check_same_thread=False)
        self.conn.execute("PRAGMA query_only=ON")
        self.tenant_id = self.conn.execute("SELECT id FROM tenants WHERE slug = 'bench'").fetchone()[0]

    def get(self, contact_id: str) -> dict[str, Any]:
        row = self.conn.execute(QUERY, (self.tenant_id, contact_id)).fetchone()
        if row is None:
            return {"error": "not found"}
        keys = ("id", "first_name", "last_name", "email", "phone", "title", "account_id", "owner_id", "updated_at")
        return {k: v for k, v in zip(keys, row, strict=True) if v is not None}


def build_server(store: FloorStore) -> Server[Any]:
    async def list_tools(ctx: ServerRequestContext[Any], params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[FLOOR_TOOL])

    async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        data = store.get(str((params.arguments or {}).get("contact_id", "")))
        text = json.dumps(data, separators=(",", ":"))
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)], structured_content=data)

    return Server("harmonia-floor", version="0", on_list_tools=list_tools, on_call_tool=call_tool)


def _rest_app(store: FloorStore) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def get_contact(request: Request) -> Response:
        data = store.get(request.path_params["contact_id"])
        return Response(json.dumps(data, separators=(",", ":")), media_type="application/json")

    return Starlette(routes=[Route("/contacts/{contact_id}", get_contact)])


def _mcp_http_app(store: FloorStore) -> Any:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    server = build_server(store)
    inner = server.streamable_http_app(json_response=True, stateless_http=True)

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        async with server.session_manager.run():
            yield

    return Starlette(routes=[Mount("/", app=inner)], lifespan=lifespan)


def main(argv: list[str]) -> None:
    mode, db = argv[0], argv[1]
    store = FloorStore(db)
    if mode == "mcp-stdio":
        import anyio
        from mcp.server.stdio import stdio_server

        server = build_server(store)

        async def run() -> None:
            async with stdio_server() as (read, write):
                await server.run(read, write, server.create_initialization_options())

        anyio.run(run)
        return
    import uvicorn

    port = int(argv[2])
    app = _rest_app(store) if mode == "rest" else _mcp_http_app(store)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main(sys.argv[1:])
