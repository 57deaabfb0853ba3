"""Tasks, notes and calendar events: the lists an operator asks about, and the writes that log the work (work on a
record is activity: it keeps "last activity" and deal staleness true)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, or_, select

from ..db import UnitOfWork
from ..errors import InvalidArguments
from ..ids import new_id
from ..models import Calendar, Event, Note, Opportunity, Task, User, utcnow
from ..record_types import RECORD_TYPES
from . import contacts as contact_service
from . import deals as deal_service
from .paging import page
from .records import apply_changes, get_or_404

__all__ = [
    "check_link",
    "create_note",
    "create_task",
    "delete_note",
    "delete_task",
    "list_events",
    "list_notes",
    "list_tasks",
    "touch_record",
    "update_task",
    "user_names",
]


def touch_record(uow: UnitOfWork, record_type: str | None, record_id: str | None) -> None:
    """Work on a record is activity: keeps "last activity" and deal staleness true."""
    if record_type == "contact":
        contact_service.touch(uow, record_id)
    elif record_type == "opportunity":
        deal_service.touch(uow, record_id)
        opp = uow.session.scalar(select(Opportunity).where(Opportunity.id == record_id))
        if opp is not None:
            contact_service.touch(uow, opp.contact_id)


def user_names(uow: UnitOfWork, ids: set[str | None]) -> dict[str, str]:
    """The names of these people (a page's assignees or authors), in one statement."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    return {uid: name for uid, name in uow.session.execute(select(User.id, User.name).where(User.id.in_(wanted)))}


def check_link(uow: UnitOfWork, record_type: str | None, record_id: str | None) -> None:
    """A task or note is attached to a record that exists in this tenant, or to none."""
    if (record_type is None) != (record_id is None):
        raise InvalidArguments("give both record_type and record_id, or neither")
    if record_type and record_id:
        get_or_404(uow, RECORD_TYPES[record_type].model, record_id, record_type, field="record_id")


def list_tasks(
    uow: UnitOfWork,
    filters: dict[str, Any],
    *,
    due_before: datetime | None,
    due_after: datetime | None,
    limit: int | None,
    cursor: str | None,
) -> tuple[list[Task], str | None]:
    """Tasks with a due date, earliest first; `filters` are column == value (None: not filtered)."""
    stmt: Select[Any] = select(Task).where(Task.due_at.is_not(None))
    for field, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(Task, field) == value)
    if due_before:
        stmt = stmt.where(Task.due_at < due_before)
    if due_after:
        stmt = stmt.where(Task.due_at >= due_after)
    return page(uow.session, stmt, sort=Task.due_at, tiebreak=Task.id, descending=False, limit=limit, cursor=cursor)


def create_task(
    uow: UnitOfWork,
    *,
    title: str,
    body: str | None,
    due_at: datetime,
    assignee_id: str | None,
    record_type: str | None,
    record_id: str | None,
) -> Task:
    check_link(uow, record_type, record_id)
    if assignee_id:
        get_or_404(uow, User, assignee_id, "user", field="assignee_id")
    task = Task(id=new_id("task"), title=title, body=body, due_at=due_at, assignee_id=assignee_id,
                record_type=record_type, record_id=record_id, status="open")  # fmt: skip
    uow.session.add(task)
    return task


def update_task(uow: UnitOfWork, task_id: str, changes: dict[str, Any]) -> tuple[Task, dict[str, Any]]:
    """Apply `changes`; completing a task is activity on its record. Returns (task, previous values)."""
    task = get_or_404(uow, Task, task_id, "task")
    if changes.get("assignee_id"):
        get_or_404(uow, User, changes["assignee_id"], "user", field="assignee_id")
    before = apply_changes(task, changes)
    if "status" in before:
        task.completed_at = utcnow() if task.status == "done" else None
        if task.status == "done":
            touch_record(uow, task.record_type, task.record_id)
    return task, before


def list_notes(
    uow: UnitOfWork, filters: dict[str, Any], *, since: datetime | None, limit: int | None, cursor: str | None
) -> tuple[list[Note], str | None]:
    """Notes, newest first; `filters` are column == value (None: not filtered)."""
    stmt: Select[Any] = select(Note)
    for field, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(Note, field) == value)
    if since:
        stmt = stmt.where(Note.created_at >= since)
    return page(uow.session, stmt, sort=Note.created_at, tiebreak=Note.id, limit=limit, cursor=cursor)


def create_note(uow: UnitOfWork, *, record_type: str, record_id: str, body: str) -> Note:
    check_link(uow, record_type, record_id)
    note = Note(id=new_id("note"), body=body, record_type=record_type, record_id=record_id,
                author_id=uow.actor.user_id, created_at=utcnow())  # fmt: skip
    uow.session.add(note)
    touch_record(uow, record_type, record_id)
    uow.session.flush()
    return note


def list_events(
    uow: UnitOfWork,
    *,
    start: datetime,
    end: datetime,
    calendar_id: str | None,
    user_id: str | None,
    contact_id: str | None,
    limit: int | None,
    cursor: str | None,
) -> tuple[list[Event], str | None]:
    """Events starting in [start, end), in start order."""
    stmt: Select[Any] = select(Event).where(Event.start_at >= start, Event.start_at < end)
    if calendar_id:
        stmt = stmt.where(Event.calendar_id == calendar_id)
    if user_id:
        cal_ids = list(uow.session.scalars(select(Calendar.id).where(Calendar.user_id == user_id)))
        stmt = stmt.where(or_(*(Event.calendar_id == c for c in cal_ids)) if cal_ids else Event.id.is_(None))
    if contact_id:
        stmt = stmt.where(Event.contact_id == contact_id)
    return page(uow.session, stmt, sort=Event.start_at, tiebreak=Event.id, descending=False, limit=limit,
                cursor=cursor)  # fmt: skip


def delete_note(uow: UnitOfWork, note: Note) -> None:
    uow.session.execute(delete(Note).where(Note.id == note.id))


def delete_task(uow: UnitOfWork, task: Task) -> None:
    uow.session.execute(delete(Task).where(Task.id == task.id))
