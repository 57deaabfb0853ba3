"""What happened on a record — the contact and deal pages' timeline — and the outbox by status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, or_, select

from ..db import UnitOfWork
from ..models import Contact, Conversation, Message, Note, Opportunity, Stage, StageChange, Task, User
from ..models.workflows import Enrollment, StepRun, Workflow
from .paging import page
from .records import get_or_404

__all__ = ["History", "history", "list_messages"]


@dataclass
class History:
    """The newest `limit` of each kind of entry; the caller merges them."""

    messages: list[Message] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    moves: list[StageChange] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # user id → name, of everyone who did something here
    stages: dict[str, str] = field(default_factory=dict)  # stage id → name, of the stages the moves name
    steps: list[tuple[StepRun, Enrollment, str]] = field(default_factory=list)  # workflow steps, with the run's name


def history(uow: UnitOfWork, record_type: str, record_id: str, limit: int) -> History:
    """A contact's history includes its deals' and its threads'; a deal's, its contact's threads."""
    s, n = uow.session, limit
    if record_type == "contact":
        contact = get_or_404(uow, Contact, record_id, "contact", field="record_id")
        contact_id: str | None = contact.id
        deal_ids = list(s.scalars(select(Opportunity.id).where(Opportunity.contact_id == contact.id)))
        record_ids = [contact.id, *deal_ids]
    else:
        deal = get_or_404(uow, Opportunity, record_id, "opportunity", field="record_id")
        contact_id, deal_ids, record_ids = deal.contact_id, [deal.id], [deal.id]

    out = History()
    if contact_id:
        threads = select(Conversation.id).where(Conversation.contact_id == contact_id)
        out.messages = list(s.scalars(select(Message).where(Message.conversation_id.in_(threads))
                                      .order_by(Message.created_at.desc()).limit(n)))  # fmt: skip
    out.notes = list(
        s.scalars(select(Note).where(Note.record_id.in_(record_ids)).order_by(Note.created_at.desc()).limit(n))
    )
    out.tasks = list(
        s.scalars(select(Task).where(Task.record_id.in_(record_ids)).order_by(Task.created_at.desc()).limit(n))
    )
    out.moves = list(s.scalars(select(StageChange).where(StageChange.opportunity_id.in_(deal_ids))
                               .order_by(StageChange.at.desc()).limit(n))) if deal_ids else []  # fmt: skip

    out.steps = _steps(uow, contact_id if record_type == "contact" else None, deal_ids if record_type != "contact"
                       else [], n)  # fmt: skip

    moves = out.moves
    done: list[Any] = [*out.messages, *out.notes, *out.tasks, *moves]
    people = {r.created_by for r in done if r.created_by}
    out.names = dict(s.execute(select(User.id, User.name).where(User.id.in_(people))).all()) if people else {}
    stage_ids = {m.to_stage_id for m in moves} | {m.from_stage_id for m in moves if m.from_stage_id}
    out.stages = dict(s.execute(select(Stage.id, Stage.name).where(Stage.id.in_(stage_ids))).all()) if moves else {}
    return out


def _steps(
    uow: UnitOfWork, contact_id: str | None, deal_ids: list[str], n: int
) -> list[tuple[StepRun, Enrollment, str]]:
    """Workflow steps that touched the record: every step of the contact's runs; for a deal, the steps of runs
    enrolled for the deal and the steps that acted on it (a stage move)."""
    if contact_id:
        which: Any = Enrollment.contact_id == contact_id
    elif deal_ids:
        which = or_(Enrollment.opportunity_id.in_(deal_ids),
                    (StepRun.result_type == "opportunity") & StepRun.result_id.in_(deal_ids))  # fmt: skip
    else:
        return []
    rows = uow.session.execute(
        select(StepRun, Enrollment, Workflow.name)
        .join(Enrollment, (Enrollment.tenant_id == StepRun.tenant_id) & (Enrollment.id == StepRun.enrollment_id))
        .join(Workflow, (Workflow.tenant_id == Enrollment.tenant_id) & (Workflow.id == Enrollment.workflow_id))
        .where(which)
        .order_by(
            func.coalesce(StepRun.finished_at, StepRun.created_at).desc(),
            StepRun.step_index.desc(),
            StepRun.iteration.desc(),
        )
        .limit(n)
    ).all()
    return [(run, enrollment, name) for run, enrollment, name in rows]


def list_messages(
    uow: UnitOfWork, filters: dict[str, Any], *, limit: int | None, cursor: str | None
) -> tuple[list[Message], str | None]:
    """Messages across threads, newest first; `filters` are column == value (None: not filtered)."""
    stmt: Select[Any] = select(Message)
    for name, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(Message, name) == value)
    return page(uow.session, stmt, sort=Message.created_at, tiebreak=Message.id, limit=limit, cursor=cursor)
