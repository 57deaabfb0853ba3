"""The REST routes that carry files, which the JSON-only registry routes cannot: uploading an import file, downloading
an import's error file, exporting a workspace. Same bearer tokens and scopes as the rest of /api/v1; everything else
about an import (start, progress, cancel, undo) is an operation of the registry."""

from __future__ import annotations

import tempfile
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..db import Actor
from ..errors import HarmoniaError, InvalidArguments, ScopeDenied
from ..models import Job
from ..services import audit, export, import_runs
from ..services.records import get_or_404
from ..services.tenancy import authenticate
from .rest import PREFIX, _problem

__all__ = ["install"]


async def _actor(request: Request, scope: str, action: str) -> Actor:
    db = request.app.state.db
    auth = request.headers.get("authorization", "")
    secret = auth[7:].strip() if auth.lower().startswith("bearer ") else None
    actor: Actor = await anyio.to_thread.run_sync(lambda: authenticate(db, secret, channel="api"))
    if scope not in actor.scopes:
        raise ScopeDenied(action, scope)
    return actor


async def upload(request: Request) -> Response:
    """The raw file as the body (any content type); answers the `upload_id` to pass to imports_start."""
    try:
        actor = await _actor(request, "mcp:write", "imports_upload")
        data = await request.body()
        name = request.query_params.get("filename") or "import.csv"
        path = await anyio.to_thread.run_sync(lambda: import_runs.store_upload(actor.tenant_id, data, name))
    except HarmoniaError as error:
        return _problem(error)
    return JSONResponse({"upload_id": path.name, "bytes": len(data)}, status_code=201)


async def error_file(request: Request) -> Response:
    db = request.app.state.db
    try:
        actor = await _actor(request, "mcp:read", "jobs_errors")
        job_id = request.path_params["job_id"]

        def render() -> list[str]:
            with db.unit_of_work(actor, write=False) as uow:
                return list(import_runs.error_file(uow, get_or_404(uow, Job, job_id, "job")))

        chunks = await anyio.to_thread.run_sync(render)
    except HarmoniaError as error:
        return _problem(error)
    headers = {"Content-Disposition": f'attachment; filename="{job_id}-errors.csv"'}
    return StreamingResponse(iter(chunks), media_type="text/csv; charset=utf-8", headers=headers)


async def export_workspace(request: Request) -> Response:
    """Every record of the workspace (an admin's right): `?format=csv` (zip) or `jsonl`."""
    db = request.app.state.db
    try:
        actor = await _actor(request, "mcp:admin", "workspace_export")
        fmt = request.query_params.get("format", "csv")
        if fmt not in export.FORMATS:
            raise InvalidArguments("format is csv (a zip of one CSV per record type) or jsonl")

        def build() -> Any:
            handle = tempfile.NamedTemporaryFile(prefix="harmonia-export-", delete=False)  # noqa: SIM115
            with handle:
                counts = export.write(db, actor, fmt, handle)
            with db.unit_of_work(actor) as uow:
                audit.append(uow, action="workspace_export", outcome="ok", detail=fmt, after=counts)
            return handle.name

        path = await anyio.to_thread.run_sync(build)
    except HarmoniaError as error:
        return _problem(error)
    name = f"harmonia-export.{'zip' if fmt == 'csv' else 'jsonl'}"
    media = "application/zip" if fmt == "csv" else "application/x-ndjson"
    from starlette.background import BackgroundTask

    return FileResponse(path, media_type=media, filename=name, background=BackgroundTask(_remove, path))


def _remove(path: str) -> None:
    import os

    os.unlink(path)


def install(app: Starlette) -> None:
    app.router.routes.extend([
        Route(f"{PREFIX}/imports/uploads", upload, methods=["POST"]),
        Route(f"{PREFIX}/jobs/{{job_id}}/errors.csv", error_file, methods=["GET"]),
        Route(f"{PREFIX}/export", export_workspace, methods=["GET"]),
    ])  # fmt: skip
