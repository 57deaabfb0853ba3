"""Contacts → Import: upload a file, pick the CRM it came from or map its columns (with a preview of the first rows
as they will be stored), dry run, run, follow the job's progress, download the error file, undo. Every step is an
operation of the registry (`imports_start`, `jobs_get`, `imports_undo`) run as the signed-in person; only the
upload itself — bytes, not an operation — is stored here."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from starlette.background import BackgroundTask
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Route

from ...errors import Forbidden, HarmoniaError, InvalidArguments
from ...imports.mapping import PRESET_NAMES
from ...imports.presets import STANDARD_TARGETS, squeeze
from ...models import Job
from ...services import audit, export, import_runs
from ...services.records import get_or_404
from .kit import Ui, view

__all__ = ["ROUTES"]

POLICIES = {"fill_empty": "Fill empty fields (never overwrite what a person typed)", "skip": "Skip existing contacts",
            "overwrite": "Overwrite existing contacts' fields"}  # fmt: skip


@view
def import_start(ui: Ui) -> Response:
    if ui.request.method == "GET":
        return ui.render("import.html", step="upload", presets=PRESET_NAMES, policies=POLICIES, values={})
    # The view wrapper keeps only text fields; the file is in the form the wrapper already read (Starlette caches it).
    form = getattr(ui.request, "_form", None)
    upload = form.get("file") if form is not None else None
    data = b""
    if upload is not None and hasattr(upload, "file"):
        with upload.file:  # closed here: the wrapper never sees the file, so it would not close it
            data = upload.file.read()
    name = getattr(upload, "filename", None) or "import.csv"
    try:
        stored = import_runs.store_upload(ui.actor.tenant_id if ui.actor else "", data, name)
    except HarmoniaError as error:
        return ui.failed("import.html", error, step="upload", presets=PRESET_NAMES, policies=POLICIES)
    return ui.redirect(f"/contacts/import/{stored.name}?preset={ui.field('preset') or 'auto'}"
                       f"&dedupe={ui.field('dedupe') or 'fill_empty'}&name={name}")  # fmt: skip


def _mapping_from_form(ui: Ui) -> dict[str, str] | None:
    mapping = {ui.form[k]: ui.form.get(f"to_{k[4:]}", "") for k in ui.form if k.startswith("col_")}
    return {column: target for column, target in mapping.items() if target} or None


@view
def import_review(ui: Ui) -> Response:
    upload_id = ui.path("upload_id")
    source = ui.form if ui.request.method == "POST" else ui.request.query_params
    preset, dedupe, name = source.get("preset", "auto"), source.get("dedupe", "fill_empty"), source.get("name", "")
    mapping = _mapping_from_form(ui) if ui.request.method == "POST" else None
    run = ui.request.method == "POST" and ui.field("action") == "run"
    args: dict[str, Any] = {"upload_id": upload_id, "preset": preset, "dedupe": dedupe, "filename": name,
                            "mapping": mapping, "dry_run": not run}  # fmt: skip
    try:
        result = ui.call("imports_start", **args)
    except HarmoniaError as error:
        context: dict[str, Any] = {"step": "review", "upload_id": upload_id, "preset": preset, "dedupe": dedupe, "name": name,
                   "presets": PRESET_NAMES, "policies": POLICIES, "targets": STANDARD_TARGETS, "result": None}  # fmt: skip
        return ui.failed("import.html", error, None, **context)
    if run:
        return ui.redirect(f"/jobs/{result['job_id']}", flash="Import started.")
    custom = {column: f"custom:{squeeze(column)[:40] or 'field'}" for column in result["mapping"]}
    return ui.render("import.html", step="review", upload_id=upload_id, preset=preset, dedupe=dedupe, name=name,
                     presets=PRESET_NAMES, policies=POLICIES, targets=STANDARD_TARGETS, result=result,
                     custom=custom)  # fmt: skip


@view
def job_page(ui: Ui) -> Response:
    job = ui.call("jobs_get", job_id=ui.path("job_id"))
    return ui.render("job.html", job=job, live=job["status"] in ("queued", "running"))


@view
def job_undo(ui: Ui) -> Response:
    job_id = ui.path("job_id")
    try:
        undone = ui.call("imports_undo", job_id=job_id)
    except HarmoniaError as error:
        return ui.redirect(f"/jobs/{job_id}", flash=error.message, kind="error")
    kept = undone.get("not_undone_count", 0)
    return ui.redirect(f"/jobs/{job_id}", flash=f"Undone: {undone['deleted']} contacts deleted, {undone['reverted']} "
                       f"reverted" + (f"; {kept} kept because people changed them since." if kept else "."))  # fmt: skip


@view
def job_errors(ui: Ui) -> Response:
    assert ui.actor is not None
    job_id = ui.path("job_id")
    if not job_id.startswith("jb_"):
        raise InvalidArguments("not a job id", field="record_id")
    with ui.db.unit_of_work(ui.actor, write=False) as uow:
        chunks = list(import_runs.error_file(uow, get_or_404(uow, Job, job_id, "job")))
    return StreamingResponse(iter(chunks), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{job_id}-errors.csv"'})  # fmt: skip


@view
def export_workspace(ui: Ui) -> Response:
    """Every record of the workspace, for an owner or admin: a user can always leave with their data."""
    assert ui.actor is not None
    if "mcp:admin" not in ui.actor.scopes:
        raise Forbidden("only an owner or an admin can export the whole workspace")
    fmt = ui.query("format", "csv")
    if fmt not in export.FORMATS:
        raise InvalidArguments("format is csv (a zip of one CSV per record type) or jsonl")
    handle = tempfile.NamedTemporaryFile(prefix="harmonia-export-", delete=False)  # noqa: SIM115
    with handle:
        counts = export.write(ui.db, ui.actor, fmt, handle)
    with ui.db.unit_of_work(ui.actor) as uow:
        audit.append(uow, action="workspace_export", outcome="ok", detail=fmt, after=counts)
    name = f"harmonia-export.{'zip' if fmt == 'csv' else 'jsonl'}"
    return FileResponse(handle.name, filename=name, background=BackgroundTask(os.unlink, handle.name),
                        media_type="application/zip" if fmt == "csv" else "application/x-ndjson")  # fmt: skip


ROUTES = [
    Route("/export", export_workspace),
    Route("/contacts/import", import_start, methods=["GET", "POST"]),
    Route("/contacts/import/{upload_id}", import_review, methods=["GET", "POST"]),
    Route("/jobs/{job_id}", job_page),
    Route("/jobs/{job_id}/undo", job_undo, methods=["POST"]),
    Route("/jobs/{job_id}/errors.csv", job_errors),
]
