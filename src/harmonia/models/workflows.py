"""Workflows and sequences: definitions, their immutable versions, enrollments (the durable timer) and step runs.

A workflow's steps live in versions that never change once written: an enrollment pins the version it started on,
so editing a live sequence never rewrites what a running enrollment does. `next_run_at` on an enrollment is the only
timer there is — a worker that restarts finds every due step in the table. A step run is unique per (enrollment,
step, iteration): the same step can never be recorded, or executed, twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, Json, TenantScoped, UTCDateTime, tenant_fk

__all__ = ["ENROLLMENT_STATUSES", "Enrollment", "StepRun", "Workflow", "WorkflowVersion"]

# active: a step is due at next_run_at; waiting: a wait step's timer runs; paused: a person must resume or discard;
# completed / exited / failed: finished (exited says why: a reply, an unsubscribe, a stop by a person…).
ENROLLMENT_STATUSES = ("active", "waiting", "paused", "completed", "exited", "failed")
LIVE_STATUSES = ("active", "waiting", "paused")


class Workflow(TenantScoped, Base):
    __tablename__ = "workflows"
    __extra_args__ = (
        tenant_fk("owner_id", "users"),
        Index("ix_workflows_tenant_updated", "tenant_id", "updated_at", "id"),
    )

    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(12))  # sequence/automation
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_id: Mapped[str | None] = mapped_column(String(24))  # who is told when a run fails; whose name sends go out in
    version: Mapped[int] = mapped_column(Integer, default=1)  # the current (latest) version
    # re-entry, throttle, stop rules: see workflows/definitions.py SETTINGS
    settings: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    # A schedule trigger's last tick that enrolled (claimed by a conditional UPDATE: one worker per tick)
    scheduled_through: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WorkflowVersion(TenantScoped, Base):
    """Immutable: written once per save of the trigger or the steps."""

    __tablename__ = "workflow_versions"
    __extra_args__ = (
        tenant_fk("workflow_id", "workflows", ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "workflow_id", "version"),
    )

    workflow_id: Mapped[str] = mapped_column(String(24))
    version: Mapped[int] = mapped_column(Integer)
    trigger: Mapped[dict[str, Any] | None] = mapped_column(Json)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)


class Enrollment(TenantScoped, Base):
    __tablename__ = "workflow_enrollments"
    __extra_args__ = (
        tenant_fk("workflow_id", "workflows", ondelete="CASCADE"),
        tenant_fk("contact_id", "contacts", ondelete="CASCADE"),
        Index("ix_workflow_enrollments_tenant_due", "tenant_id", "status", "next_run_at"),
        Index("ix_workflow_enrollments_tenant_contact", "tenant_id", "contact_id", "status"),
        Index("ix_workflow_enrollments_tenant_workflow", "tenant_id", "workflow_id", "status", "created_at"),
    )

    workflow_id: Mapped[str] = mapped_column(String(24))
    version: Mapped[int] = mapped_column(Integer)  # pinned when the run starts
    contact_id: Mapped[str] = mapped_column(String(24))
    opportunity_id: Mapped[str | None] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(10), default="active")  # see ENROLLMENT_STATUSES
    step_index: Mapped[int] = mapped_column(Integer, default=0)  # the next step to run
    iteration: Mapped[int] = mapped_column(Integer, default=0)  # a resumed step runs as a new iteration (new key)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # failed tries of the current step
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the durable timer
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a worker's lease
    claimed_by: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(String(300))  # why paused, exited or failed
    last_error: Mapped[str | None] = mapped_column(String(500))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StepRun(TenantScoped, Base):
    """What one step did for one enrollment, and why."""

    __tablename__ = "workflow_step_runs"
    __extra_args__ = (
        tenant_fk("enrollment_id", "workflow_enrollments", ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "enrollment_id", "step_index", "iteration"),
    )

    enrollment_id: Mapped[str] = mapped_column(String(24))
    step_index: Mapped[int] = mapped_column(Integer)
    iteration: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(10))  # started/ok/blocked/failed/skipped
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    result_type: Mapped[str | None] = mapped_column(String(24))  # message/task/note/opportunity…
    result_id: Mapped[str | None] = mapped_column(String(24))
    detail: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
