"""Jobs: long work run in batches, one transaction each, so a job survives its runner.

A runner claims a job with a lease (`lease_until`) and renews it with every batch; `done` and the running counts
are written in the batch's own transaction, so after a crash the next runner — `harmonia worker`, or the server's
in-process thread — starts from the last committed batch. Cancelling sets `cancel_requested`; the runner reads it
before each batch and stops there (what was committed stays, and can be undone).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select

from .. import bulk, fulltext
from ..config import get_settings
from ..db import Actor, Database, UnitOfWork
from ..errors import Conflict, HarmoniaError
from ..events import DomainEvent
from ..ids import new_id
from ..imports.mapping import build_mapping
from ..imports.normalize import Normalizer
from ..imports.reader import open_table
from ..models import Job, Tenant
from .imports import Counts, ImportWriter, Options
from .records import get_or_404

__all__ = ["BATCH", "cancel", "create_job", "install_inprocess_jobs", "job_actor", "run_due", "run_import"]

log = logging.getLogger("harmonia.jobs")

BATCH = 1000  # rows per transaction: small enough that a cancel or a crash loses little, large enough to be fast
LEASE = timedelta(minutes=2)
ACTIVE = ("queued", "running")


def create_job(uow: UnitOfWork, kind: str, params: dict[str, Any], total: int | None) -> Job:
    job = Job(id=new_id("job"), kind=kind, status="queued", params=params, done=0, total=total, result={},
              cancel_requested=False, created_at=uow.now(), updated_at=uow.now())  # fmt: skip
    uow.session.add(job)
    uow.session.flush()
    return job


def cancel(uow: UnitOfWork, job_id: str) -> Job:
    job = get_or_404(uow, Job, job_id, "job")
    if job.status == "queued":
        job.status, job.finished_at = "cancelled", uow.now()
    elif job.status == "running":
        job.cancel_requested = True
    else:
        raise Conflict(f"job {job.id} is already {job.status}; only a queued or running job can be cancelled")
    return job


def job_actor(job: Job) -> Actor:
    """The person (and channel) that started the job: what it writes is stamped as theirs."""
    return Actor(tenant_id=job.tenant_id, channel=job.created_via or "system", user_id=job.created_by,
                 client=job.created_client or "harmonia job")  # fmt: skip


def install_inprocess_jobs(db: Database, *, inline: bool = False) -> Any:
    """This process runs the jobs it queues (`job_queued`, handed out after the commit that queued them): in a
    thread of their own (`harmonia serve`), or `inline` in the committing thread (deterministic, for tests).
    Subscribed by `bootstrap()` when HARMONIA_INPROCESS_DISPATCH is on; otherwise `harmonia worker` runs them.
    Returns the handler (to unsubscribe)."""

    def on_job_queued(event: DomainEvent) -> None:
        if not event.subject_id:
            return
        if inline:
            run_job(db, event.tenant_id, event.subject_id)
        else:
            threading.Thread(target=run_job, args=(db, event.tenant_id, event.subject_id), daemon=True,
                             name=f"job {event.subject_id}").start()  # fmt: skip

    db.bus.subscribe("job_queued", on_job_queued)
    return on_job_queued


def run_job(db: Database, tenant_id: str, job_id: str, progress: Callable[[Job], None] | None = None) -> None:
    try:
        run_import(db, tenant_id, job_id, progress=progress)
    except Exception:  # a thread's failure must be visible in the log; the job row says "failed" (see below)
        log.exception("job %s failed", job_id)


def run_due(db: Database) -> int:
    """Run every queued job, and every running job whose runner went away (its lease ran out). For the worker."""
    with db.system_session(write=False) as s:
        tenant_ids = list(s.scalars(select(Tenant.id)))
    ran = 0
    for tenant_id in tenant_ids:
        actor = Actor(tenant_id=tenant_id, channel="system", client="harmonia worker")
        with db.unit_of_work(actor, write=False) as uow:
            now = uow.now()
            due = list(uow.session.scalars(select(Job.id).where(
                or_(Job.status == "queued", (Job.status == "running") & (Job.lease_until < now))
            ).order_by(Job.created_at)))  # fmt: skip
        for job_id in due:
            run_job(db, tenant_id, job_id)
            ran += 1
    return ran


def _claim(db: Database, tenant_id: str, job_id: str) -> Job | None:
    with db.unit_of_work(Actor(tenant_id=tenant_id, channel="system"), write=True) as uow:
        job = uow.session.scalar(select(Job).where(Job.id == job_id).with_for_update())
        now = uow.now()
        if job is None or job.status not in ACTIVE:
            return None
        if job.status == "running" and job.lease_until and job.lease_until > now:
            return None  # another runner holds it
        job.status, job.lease_until = "running", now + LEASE
        job.started_at = job.started_at or now
        uow.session.flush()
        uow.session.expunge(job)
        return job


def run_import(db: Database, tenant_id: str, job_id: str, *, progress: Callable[[Job], None] | None = None) -> None:
    job = _claim(db, tenant_id, job_id)
    if job is None:
        return
    actor = job_actor(job)
    params = job.params
    options = Options(**params["options"])
    writer = ImportWriter(job.id, options, Counts.from_dict(job.result.get("counts", {})), dry_run=False)
    done = job.done
    try:
        if done:
            with db.unit_of_work(actor) as uow:
                writer.remember_created(uow)
        with open_table(Path(params["path"])) as table:
            normalize = Normalizer(build_mapping(table.header, options.preset, options.mapping), options.region)
            for chunk in _batches(islice(table.rows, done, None), BATCH):
                with db.unit_of_work(actor) as uow:
                    current = uow.session.scalar(select(Job).where(Job.id == job_id).with_for_update())
                    assert current is not None
                    if current.cancel_requested:
                        _catch_up(uow)
                        _finish(uow, current, "cancelled", writer.counts)
                        return
                    with bulk.deferred():  # the search index catches up once, at the end (see _catch_up)
                        writer.batch(uow, [normalize(*row) for row in chunk])
                    current.done += len(chunk)
                    current.result = {"counts": writer.counts.to_dict()}
                    current.lease_until = uow.now() + LEASE
                    current.updated_at = uow.now()
                if progress:
                    progress(current)
        with db.unit_of_work(actor) as uow:
            current = uow.session.scalar(select(Job).where(Job.id == job_id))
            assert current is not None
            _catch_up(uow)
            _finish(uow, current, "cancelled" if current.cancel_requested else "done", writer.counts)
        db.analyze()
    except HarmoniaError as error:  # the file went away or changed under the job
        _fail(db, actor, job_id, error.message)
    except Exception:
        _fail(db, actor, job_id, "the job stopped on an unexpected error; what was committed stays and can be undone")
        raise


def _catch_up(uow: UnitOfWork) -> None:
    """Index what the job's batches inserted with the per-row triggers deferred (SQLite; bulk.py): two set statements
    at the end instead of a trigger per row, a third of the import's time. Until then the new contacts are in the
    workspace but not yet found by `search` — and a job resumed after a crash catches up the same way."""
    if uow.db.is_sqlite:
        fulltext.index_missing(uow.session.connection(), uow.tenant_id)


def _finish(uow: UnitOfWork, job: Job, status: str, counts: Counts) -> None:
    job.status, job.finished_at, job.lease_until = status, uow.now(), None
    uow.after_commit(lambda: _forget_upload(job.params.get("path")))
    job.result = {"counts": counts.to_dict()}
    if counts.failed:
        job.error_file = f"/api/v1/jobs/{job.id}/errors.csv"
    uow.emit("job_finished", subject=("job", job.id), kind=job.kind, status=status,
             **{k: v for k, v in counts.to_dict().items() if isinstance(v, int)})  # fmt: skip


def _forget_upload(path: str | None) -> None:
    """A finished job's upload is deleted: a customer list is not kept on disk longer than its import needs (the
    error file is rebuilt from the job's ledger and the header kept in its parameters). Only files in the upload
    folder — never a file the job was pointed at elsewhere."""
    if not path:
        return
    folder = Path(get_settings().upload_dir).resolve()
    target = Path(path).resolve()
    if folder in target.parents:
        target.unlink(missing_ok=True)


def _fail(db: Database, actor: Actor, job_id: str, message: str) -> None:
    with db.unit_of_work(actor) as uow:
        job = uow.session.scalar(select(Job).where(Job.id == job_id))
        if job is not None:
            job.status, job.error, job.finished_at, job.lease_until = "failed", message[:500], uow.now(), None
            path = job.params.get("path")
            uow.after_commit(lambda: _forget_upload(path))


def _batches(rows: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while chunk := list(islice(rows, size)):
        yield chunk
