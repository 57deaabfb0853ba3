"""Long-running work (imports today; exports and bulk enrolments next): one row per job, and what each job did.

A job is committed in batches: `done` moves in the same transaction as the batch's records, so a job that dies
resumes from its last committed batch. `job_items` is the job's ledger — the records it created or updated (with
the values it replaced, for undo) and the rows it could not read (the error file) — kept in the database so the
web server, the worker and the command line all see the same job.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, Json, TenantOwned, TenantScoped, UTCDateTime, tenant_fk

__all__ = ["JOB_STATUSES", "Job", "JobItem"]

# queued → running → done | failed | cancelled; a done import may later become undone.
JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled", "undone")


class Job(TenantScoped, Base):
    __tablename__ = "jobs"
    __extra_args__ = (Index("ix_jobs_tenant_status", "tenant_id", "status", "created_at"),)

    kind: Mapped[str] = mapped_column(String(24))  # import_contacts
    status: Mapped[str] = mapped_column(String(16), default="queued")
    params: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)  # the file, the mapping, the policy
    done: Mapped[int] = mapped_column(Integer, default=0)  # rows read and committed
    total: Mapped[int | None] = mapped_column(Integer)  # rows in the file (from the dry run)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    result: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)  # running counts, then the summary
    error: Mapped[str | None] = mapped_column(String(500))  # why the job failed as a whole
    error_file: Mapped[str | None] = mapped_column(String(200))  # where the failed rows are served from
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a runner holds the job until then
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class JobItem(TenantOwned, Base):
    """One thing a job did to one record, or one row it failed on (`record_type` "row")."""

    __tablename__ = "job_items"
    __extra_args__ = (
        tenant_fk("job_id", "jobs", ondelete="CASCADE"),
        Index("ix_job_items_tenant_record", "tenant_id", "record_id"),
    )

    job_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    row: Mapped[int] = mapped_column(Integer, primary_key=True)  # the row number in the file (header is row 1)
    record_type: Mapped[str] = mapped_column(String(16), primary_key=True)  # contact / account / row
    action: Mapped[str] = mapped_column(String(16))  # created / updated / failed
    record_id: Mapped[str | None] = mapped_column(String(24))
    before: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)  # updated: the values the job replaced
    after: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)  # what it wrote; failed: the row and reason
    stamp: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the record's updated_at right after the job
