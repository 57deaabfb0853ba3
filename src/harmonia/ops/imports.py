"""The `imports` toolset (SPEC §8, §10): start an import (its dry run answers at once), follow and cancel its job,
undo it. Never part of `core`: a client opts in with the `imports` toolset."""

from __future__ import annotations

import contextlib
import tempfile
import typing
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from ..errors import InvalidArguments
from ..imports.mapping import PRESET_NAMES, build_mapping
from ..models import Job
from ..services import import_runs, jobs
from ..services.imports import Options
from ..services.records import get_or_404
from .common import JobId
from .registry import OpContext, Operation, Scope
from .schema import InputModel, OutputModel

__all__ = ["OPERATIONS", "JobOut", "import_answer", "job_out"]

MAX_CONTENT = 10 * 1024 * 1024  # CSV text sent inline; larger files are uploaded (REST or the web UI)
Preset = Literal["auto", "generic", "salesforce", "hubspot", "gohighlevel", "close"]
assert set(PRESET_NAMES) == set(typing.get_args(Preset))


class ImportsStart(InputModel):
    upload_id: str | None = Field(None, max_length=64, description="a file uploaded to POST /api/v1/imports/uploads")
    content: str | None = Field(None, max_length=MAX_CONTENT, description="the CSV text itself (up to 10 MB)")
    filename: str | None = Field(None, max_length=200, description="default import.csv")
    preset: Preset = Field("auto", description="the CRM the file came from; auto guesses from the header")
    mapping: dict[str, str] | None = Field(
        None, description='column → field, overriding the preset: {"Correo": "email", "Plan": "custom:plan"}'
    )
    dedupe: Literal["skip", "fill_empty", "overwrite"] = Field(
        "fill_empty", description="for a contact that already exists (same email, else phone)"
    )
    dry_run: bool = Field(False, description="only count and check; write nothing")


class ImportOut(OutputModel):
    job_id: str | None = None
    status: str
    preset: str
    mapping: dict[str, str]
    rows: int
    created: int
    updated: int
    skipped: int
    failed: int
    accounts_created: int
    errors: list[dict[str, Any]] = []
    sample: list[dict[str, Any]] = []


def imports_start(ctx: OpContext, args: ImportsStart) -> ImportOut:
    if (args.upload_id is None) == (args.content is None):
        raise InvalidArguments("give the file as upload_id (POST /api/v1/imports/uploads) or as content (CSV text)")
    filename = args.filename or "import.csv"
    with _source(ctx, args, filename) as path:
        # The dry run reads in a read transaction of its own, before this unit's write transaction begins: on SQLite
        # a write transaction holds the database's one write lock, and a 100k-row check takes seconds.
        with ctx.db.unit_of_work(ctx.actor, write=False) as read:
            options = Options(preset=args.preset, mapping=args.mapping, dedupe=args.dedupe,
                              region=import_runs.region_of(read))  # fmt: skip
            mapping, counts = import_runs.dry_run(read, path, options)
        job = None
        if not args.dry_run:
            stored = path if args.upload_id else import_runs.store_upload(ctx.tenant_id, path, filename)
            job = import_runs.queue_import(ctx.uow, stored, mapping, options, counts, filename)
            ctx.audit_target("job", job.id, after={"rows": counts.rows, "file": filename, "dedupe": args.dedupe})
            ctx.uow.emit("job_queued", subject=("job", job.id), kind="import")  # run after commit (see bootstrap)
    return ImportOut(job_id=job.id if job else None, status=job.status if job else "dry_run", preset=mapping.preset,
                     mapping=mapping.describe(), **{k: v for k, v in counts.to_dict().items()})  # fmt: skip


def import_answer(job: Job) -> ImportOut:
    """What `imports_start` answers about `job` as it stands now: its status, the mapping it reads the file with, and
    the counts — the dry run's until the job has committed a batch, then the job's own. An MCP task for the job, or a
    call that follows it with progress notifications, ends with this answer."""
    options = job.params.get("options") or {}
    mapping = build_mapping(list(job.params.get("header") or []), options.get("preset", "auto"), options.get("mapping"))
    counts = job.result.get("counts") or job.result.get("dry_run") or {}
    numbers = {
        k: int(counts.get(k) or 0) for k in ("rows", "created", "updated", "skipped", "failed", "accounts_created")
    }
    return ImportOut(job_id=job.id, status=job.status, preset=mapping.preset, mapping=mapping.describe(),
                     errors=list(counts.get("errors") or []), **numbers)  # fmt: skip


@contextlib.contextmanager
def _source(ctx: OpContext, args: ImportsStart, filename: str) -> Any:
    if args.upload_id is not None:
        yield import_runs.upload_path(ctx.tenant_id, args.upload_id)
        return
    suffix = Path(filename).suffix or ".csv"
    with tempfile.TemporaryDirectory(prefix="harmonia-import-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_text(args.content or "", encoding="utf-8")
        yield path


class JobRef(InputModel):
    job_id: JobId


class JobOut(OutputModel):
    job_id: str
    kind: str
    status: str
    done: int
    total: int | None = None
    percent: int | None = None
    cancel_requested: bool | None = None
    counts: dict[str, Any] | None = None
    undo: dict[str, Any] | None = None
    error: str | None = None
    error_file: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


def job_out(job: Job) -> JobOut:
    counts = job.result.get("counts") or job.result.get("dry_run")
    percent = min(100, job.done * 100 // job.total) if job.total else None
    return JobOut(job_id=job.id, kind=job.kind, status=job.status, done=job.done, total=job.total, percent=percent,
                  cancel_requested=job.cancel_requested or None, counts=counts, undo=job.result.get("undo"),
                  error=job.error, error_file=job.error_file, created_at=job.created_at, started_at=job.started_at,
                  finished_at=job.finished_at)  # fmt: skip


def jobs_get(ctx: OpContext, args: JobRef) -> JobOut:
    return job_out(get_or_404(ctx.uow, Job, args.job_id, "job"))


def jobs_cancel(ctx: OpContext, args: JobRef) -> JobOut:
    job = jobs.cancel(ctx.uow, args.job_id)
    ctx.audit_target("job", job.id, after={"status": job.status, "cancel_requested": job.cancel_requested})
    return job_out(job)


class UndoOut(OutputModel):
    job_id: str
    status: str
    deleted: int
    reverted: int
    accounts_deleted: int
    not_undone: list[dict[str, Any]] = []
    not_undone_count: int = 0


def imports_undo(ctx: OpContext, args: JobRef) -> UndoOut:
    job = get_or_404(ctx.uow, Job, args.job_id, "job")
    report = import_runs.undo(ctx.uow, job)
    ctx.audit_target("job", job.id, after={k: v for k, v in report.items() if isinstance(v, int)})
    return UndoOut(job_id=job.id, status=job.status, **report)


OPERATIONS = [
    Operation(
        name="imports_start",
        title="Import contacts",
        description=(
            "Import a CSV (Salesforce, HubSpot, GoHighLevel, Close or any list) as contacts. Answers at once with "
            "the dry-run counts and a job to follow with jobs_get. Imported contacts get consent unknown: nothing can "
            "be sent to them until a person records consent. Use dry_run first to check the mapping."
        ),
        scope=Scope.WRITE,
        read_only=False,
        destructive=True,  # dedupe=overwrite replaces values
        input=ImportsStart,
        output=ImportOut,
        handler=imports_start,
        rest=("POST", "/imports"),
        toolset="imports",
    ),
    Operation(
        name="imports_undo",
        title="Undo an import",
        description=(
            "Undo a finished import: deletes the contacts it created and reverts the fields it updated, except "
            "records a person changed since (listed in not_undone)."
        ),
        scope=Scope.WRITE,
        read_only=False,
        destructive=True,
        input=JobRef,
        output=UndoOut,
        handler=imports_undo,
        rest=("POST", "/imports/{job_id}/undo"),
        toolset="imports",
    ),
    Operation(
        name="jobs_get",
        title="Get a job's progress",
        description="Progress and result of a long-running job (an import): status, rows done of total, counts.",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        input=JobRef,
        output=JobOut,
        handler=jobs_get,
        rest=("GET", "/jobs/{job_id}"),
        toolset="imports",
    ),
    Operation(
        name="jobs_cancel",
        title="Cancel a job",
        description="Stop a queued or running job after its current batch; what was already committed stays (undo it).",
        scope=Scope.WRITE,
        read_only=False,
        input=JobRef,
        output=JobOut,
        handler=jobs_cancel,
        rest=("POST", "/jobs/{job_id}/cancel"),
        toolset="imports",
    ),
]
