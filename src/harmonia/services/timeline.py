"""What happened on a record — the contact and deal pages' timeline — and the outbox by status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select

from ..db import UnitOfWork
from ..models import Contact, Conversation, Message, Note, Opportunity, Stage, StageChange, Task, User
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

    moves = out.moves
    done: list[Any] = [*out.messages, *out.notes, *out.tasks, *moves]
    people = {r.created_by for r in done if r.created_by}
    out.names = dict(s.execute(select(User.id, User.name).where(User.id.in_(people))).all()) if people else {}
    stage_ids = {m.to_stage_id for m in moves} | {m.from_stage_id for m in moves if m.from_stage_id}
    out.stages = dict(s.execute(select(Stage.id, Stage.name).where(Stage.id.in_(stage_ids))).all()) if moves else {}
    return out


def list_messages(
    uow: UnitOfWork, filters: dict[str, Any], *, limit: int | None, cursor: str | None
) -> tuple[list[Message], str | None]:
    """Messages across threads, newest first; `filters` are column == value (None: not filtered)."""
    stmt: Select[Any] = select(Message)
    for name, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(Message, name) == value)
    return page(uow.session, stmt, sort=Message.created_at, tiebreak=Message.id, limit=limit, cursor=cursor)
