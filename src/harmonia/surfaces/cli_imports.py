"""`harmonia import contacts FILE --tenant SLUG` (SPEC §10) and `harmonia export` — the command line's way in and
out. The import goes through the registry like every surface (`imports_start`, as the owner on the `cli` channel),
then runs its job here, in this process, with a progress bar; `--json` prints the summary as the last line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import HarmoniaError

if TYPE_CHECKING:
    from ..bootstrap import Harmonia
    from ..db import Database

__all__ = ["export_command", "import_app"]

import_app = typer.Typer(help="Bring contacts in from another CRM or a spreadsheet.", no_args_is_help=True)


def _root() -> Harmonia:
    """This command's composition root. It runs the import's job itself (below, with a progress bar), so it does
    not also start it in a thread of its own."""
    from ..bootstrap import bootstrap
    from ..config import get_settings

    return bootstrap(get_settings().model_copy(update={"inprocess_dispatch": False}))


def _database() -> Database:
    from ..config import get_settings
    from ..db import Database

    return Database(get_settings().database_url)


def _fail(error: HarmoniaError) -> None:
    typer.echo(f"error: {error.message}", err=True)
    raise typer.Exit(2)


def _mapping(pairs: list[str]) -> dict[str, str] | None:
    mapping = {}
    for pair in pairs:
        column, sep, target = pair.rpartition("=")
        if not sep or not column.strip():
            typer.echo(f"error: --map takes COLUMN=FIELD, e.g. --map 'Correo=email' (got {pair!r})", err=True)
            raise typer.Exit(2)
        mapping[column.strip()] = target.strip()
    return mapping or None


@import_app.command("contacts")
def import_contacts(
    file: Annotated[Path, typer.Argument(help="the CSV or XLSX file")],
    tenant: Annotated[str, typer.Option("--tenant", help="workspace slug")],
    preset: Annotated[str, typer.Option(help="auto|salesforce|hubspot|gohighlevel|close|generic")] = "auto",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check and count; write nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON on the last line")] = False,
    dedupe: Annotated[str, typer.Option(help="existing contacts: skip|fill_empty|overwrite")] = "fill_empty",
    mapping: Annotated[list[str] | None, typer.Option("--map", help="COLUMN=FIELD, repeatable")] = None,
    errors_out: Annotated[Path | None, typer.Option("--errors-out", help="write the failed rows here (CSV)")] = None,
) -> None:
    """Import contacts. Imported contacts get consent unknown on every channel unless the file maps consent."""
    from ..services import import_runs
    from ..services.tenancy import get_tenant, owner_actor

    h = _root()
    db = h.db
    try:
        t = get_tenant(db, tenant)
        actor = owner_actor(db, t.id, channel="cli")
        upload = import_runs.store_upload(t.id, file, file.name)
        args: dict[str, Any] = {"upload_id": upload.name, "preset": preset, "dedupe": dedupe, "dry_run": dry_run,
                                "filename": file.name, "mapping": _mapping(mapping or [])}  # fmt: skip
        started: dict[str, Any] | None = None
        try:
            started = h.invoke(actor, "imports_start", args).model_dump(mode="json", exclude_none=True)
        finally:
            if dry_run or started is None:
                upload.unlink(missing_ok=True)  # a dry run, or a refused import, keeps no copy of the file
        summary = started
        if started.get("job_id"):
            summary = _run(db, t.id, started, quiet=as_json)
            if errors_out and summary.get("failed"):
                _write_errors(db, actor, started["job_id"], errors_out)
    except HarmoniaError as e:
        _fail(e)
        return
    finally:
        h.close()
    if as_json:
        typer.echo(json.dumps({k: summary.get(k) for k in ("job_id", "status", "preset", "rows", "created", "updated",
                                                           "skipped", "failed", "accounts_created", "errors")}))  # fmt: skip
    else:
        _print_summary(summary, dry_run)


def _run(db: Database, tenant_id: str, started: dict[str, Any], *, quiet: bool) -> dict[str, Any]:
    from ..models import Job
    from ..services import jobs

    total = started.get("rows") or 0
    show = not quiet and sys.stderr.isatty()

    def progress(job: Job) -> None:
        if show:
            width = 30
            filled = width * job.done // max(total, 1)
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {job.done:,}/{total:,} rows")
            sys.stderr.flush()

    jobs.run_import(db, tenant_id, started["job_id"], progress=progress)
    if show:
        sys.stderr.write("\n")
    from ..db import Actor

    with db.unit_of_work(Actor(tenant_id=tenant_id, channel="cli"), write=False) as uow:
        job = uow.session.get(Job, (tenant_id, started["job_id"]))
        assert job is not None
        counts = job.result.get("counts") or {}
        return {**started, **counts, "status": job.status, "error": job.error}


def _write_errors(db: Database, actor: Any, job_id: str, out: Path) -> None:
    from ..models import Job
    from ..services import import_runs
    from ..services.records import get_or_404

    with db.unit_of_work(actor, write=False) as uow, out.open("w", encoding="utf-8", newline="") as handle:
        job = get_or_404(uow, Job, job_id, "job")
        for chunk in import_runs.error_file(uow, job):
            handle.write(chunk)


def _print_summary(summary: dict[str, Any], dry_run: bool) -> None:
    verb = "would create" if dry_run else "created"
    typer.echo(f"preset: {summary.get('preset')}")
    for column, target in (summary.get("mapping") or {}).items():
        typer.echo(f"  {column} → {target}")
    for error in summary.get("errors") or []:
        typer.echo(f"  row {error['row']}{' ' + error['column'] if error['column'] else ''}: {error['reason']}")
    typer.echo(f"{summary.get('rows', 0)} rows: {verb} {summary.get('created', 0)}, updated {summary.get('updated', 0)}, "
               f"skipped {summary.get('skipped', 0)}, failed {summary.get('failed', 0)}")  # fmt: skip
    if summary.get("job_id"):
        typer.echo(f"job {summary['job_id']}: {summary.get('status')}")


@import_app.command("errors")
def import_errors(
    job_id: Annotated[str, typer.Argument(help="the import's job id")],
    tenant: Annotated[str, typer.Option("--tenant", help="workspace slug")],
    out: Annotated[Path, typer.Option("--out", help="where to write the CSV")],
) -> None:
    """Write an import's failed rows, with a reason column, as CSV."""
    from ..services.tenancy import get_tenant, owner_actor

    db = _database()
    try:
        t = get_tenant(db, tenant)
        _write_errors(db, owner_actor(db, t.id, channel="cli"), job_id, out)
    except HarmoniaError as e:
        _fail(e)
    finally:
        db.dispose()
    typer.echo(str(out))


@import_app.command("undo")
def import_undo(
    job_id: Annotated[str, typer.Argument(help="the import's job id")],
    tenant: Annotated[str, typer.Option("--tenant", help="workspace slug")],
) -> None:
    """Undo an import: delete what it created and revert what it updated, unless changed since."""
    from ..services.tenancy import get_tenant, owner_actor

    h = _root()
    try:
        t = get_tenant(h.db, tenant)
        result = h.invoke(owner_actor(h.db, t.id, channel="cli"), "imports_undo", {"job_id": job_id})
    except HarmoniaError as e:
        _fail(e)
        return
    finally:
        h.close()
    typer.echo(json.dumps(result.model_dump(mode="json", exclude_none=True)))


def export_command(
    tenant: Annotated[str, typer.Option("--tenant", help="workspace slug")],
    out: Annotated[Path, typer.Option("--out", help="the file to write (.zip for csv, .jsonl for jsonl)")],
    fmt: Annotated[str, typer.Option("--format", help="csv (one file per record type, zipped) | jsonl")] = "csv",
) -> None:
    """Export every record of a workspace: a user can always leave with their data."""
    from ..services import export
    from ..services.tenancy import get_tenant, owner_actor

    if fmt not in ("csv", "jsonl"):
        typer.echo("error: --format is csv or jsonl", err=True)
        raise typer.Exit(2)
    db = _database()
    try:
        t = get_tenant(db, tenant)
        with out.open("wb") as handle:
            counts = export.write(db, owner_actor(db, t.id, channel="cli"), fmt, handle)
    except HarmoniaError as e:
        _fail(e)
        return
    finally:
        db.dispose()
    typer.echo(json.dumps(counts))
    typer.echo(str(out))
