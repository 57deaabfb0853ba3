"""Tasks, notes and calendar events: the lists an operator asks about and the writes that log the work."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from ..models import Note, Task
from ..record_types import Linkable
from ..services import activities as svc
from ..services.records import snapshot
from .common import ContactId, Instant, LinkedId, Page, PageArgs, RecordId, Since, TaskId, UserId
from .registry import OpContext, Operation, Scope
from .schema import REST_ONLY, InputModel, OutputModel

__all__ = ["OPERATIONS"]


class TaskOut(OutputModel):
    id: str
    title: str
    status: str
    due_at: datetime | None = None
    assignee_id: str | None = None
    assignee_name: str | None = None
    record_type: str | None = None
    record_id: str | None = None
    body: str | None = None
    completed_at: datetime | None = None


def task_out(t: Task, names: dict[str, str] | None = None) -> TaskOut:
    return TaskOut(
        id=t.id,
        title=t.title,
        status=t.status,
        due_at=t.due_at,
        assignee_id=t.assignee_id,
        assignee_name=(names or {}).get(t.assignee_id or ""),
        record_type=t.record_type,
        record_id=t.record_id,
        body=t.body,
        completed_at=t.completed_at,
    )


class TasksList(PageArgs):
    assignee_id: UserId | None = None
    status: Literal["open", "done"] | None = None
    due_before: Since | None = None
    due_after: Since | None = None
    record_type: Linkable | None = None
    record_id: LinkedId | None = None


def tasks_list(ctx: OpContext, args: TasksList) -> Page[TaskOut]:
    filters = {f: getattr(args, f) for f in ("assignee_id", "status", "record_type", "record_id")}
    rows, cursor = svc.list_tasks(ctx.uow, filters, due_before=args.due_before, due_after=args.due_after,
                                  limit=args.limit, cursor=args.cursor)  # fmt: skip
    names = svc.user_names(ctx.uow, {t.assignee_id for t in rows})
    return Page[TaskOut](items=[task_out(t, names) for t in rows], next_cursor=cursor)


class TasksCreate(InputModel):
    # both or neither (null counts as absent, as the server reads it)
    model_config = ConfigDict(json_schema_extra={REST_ONLY: {"allOf": [
        {"if": {"required": [a], "properties": {a: {"type": "string"}}},
         "then": {"required": [b], "properties": {b: {"type": "string"}}}}
        for a, b in (("record_type", "record_id"), ("record_id", "record_type"))
    ]}})  # fmt: skip
    title: str = Field(min_length=1, max_length=300)
    body: str | None = Field(None, max_length=5000)
    due_at: Instant
    assignee_id: UserId | None = Field(None, description="us_ id; default: you")
    record_type: Linkable | None = None
    record_id: LinkedId | None = None


def tasks_create(ctx: OpContext, args: TasksCreate) -> TaskOut:
    task = svc.create_task(ctx.uow, title=args.title, body=args.body, due_at=args.due_at,
                           assignee_id=args.assignee_id or ctx.actor.user_id, record_type=args.record_type,
                           record_id=args.record_id)  # fmt: skip
    ctx.audit_target("task", task.id, after=snapshot(task, ("title", "due_at", "assignee_id")))
    return task_out(task)


class TasksUpdate(InputModel):
    task_id: TaskId
    title: str | None = Field(None, min_length=1, max_length=300)
    body: str | None = Field(None, max_length=5000)
    due_at: Instant | None = Field(None, description="reschedule")
    assignee_id: UserId | None = None
    status: Literal["open", "done"] | None = Field(None, description="done completes it, open reopens it")


def tasks_update(ctx: OpContext, args: TasksUpdate) -> TaskOut:
    changes = args.model_dump(exclude={"task_id"}, exclude_unset=True, exclude_none=True)
    task, before = svc.update_task(ctx.uow, args.task_id, changes)
    ctx.audit_target("task", task.id, before=before, after={k: getattr(task, k) for k in before})
    return task_out(task)


class NoteOut(OutputModel):
    id: str
    body: str
    record_type: str
    record_id: str
    author_id: str | None = None
    author_name: str | None = None
    via: str | None = None
    created_at: datetime


def note_out(n: Note, names: dict[str, str] | None = None) -> NoteOut:
    return NoteOut(
        id=n.id,
        body=n.body,
        record_type=n.record_type,
        record_id=n.record_id,
        author_id=n.author_id,
        author_name=(names or {}).get(n.author_id or ""),
        via=n.created_via,
        created_at=n.created_at,
    )


class NotesList(PageArgs):
    record_type: Linkable | None = None
    record_id: LinkedId | None = None
    author_id: UserId | None = None
    since: Since | None = None


def notes_list(ctx: OpContext, args: NotesList) -> Page[NoteOut]:
    filters = {f: getattr(args, f) for f in ("record_type", "record_id", "author_id")}
    rows, cursor = svc.list_notes(ctx.uow, filters, since=args.since, limit=args.limit, cursor=args.cursor)
    names = svc.user_names(ctx.uow, {n.author_id for n in rows})
    return Page[NoteOut](items=[note_out(n, names) for n in rows], next_cursor=cursor)


class NotesCreate(InputModel):
    record_type: Linkable
    record_id: LinkedId
    body: str = Field(min_length=1, max_length=10_000)


def notes_create(ctx: OpContext, args: NotesCreate) -> NoteOut:
    note = svc.create_note(ctx.uow, record_type=args.record_type, record_id=args.record_id, body=args.body)
    ctx.audit_target("note", note.id, after={"record_type": args.record_type, "record_id": args.record_id})
    return note_out(note)


class EventOut(OutputModel):
    id: str
    title: str
    start_at: datetime
    end_at: datetime
    status: str
    calendar_id: str
    contact_id: str | None = None
    opportunity_id: str | None = None
    location: str | None = None


class CalendarsEvents(PageArgs):
    start: Instant
    end: Instant
    calendar_id: RecordId | None = Field(None, description="ca_ id")
    user_id: UserId | None = None
    contact_id: ContactId | None = None

    @model_validator(mode="after")
    def _range(self) -> CalendarsEvents:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


def calendars_events(ctx: OpContext, args: CalendarsEvents) -> Page[EventOut]:
    rows, cursor = svc.list_events(ctx.uow, start=args.start, end=args.end, calendar_id=args.calendar_id,
                                   user_id=args.user_id, contact_id=args.contact_id, limit=args.limit,
                                   cursor=args.cursor)  # fmt: skip
    items = [EventOut(id=e.id, title=e.title, start_at=e.start_at, end_at=e.end_at, status=e.status,
                      calendar_id=e.calendar_id, contact_id=e.contact_id, opportunity_id=e.opportunity_id,
                      location=e.location) for e in rows]  # fmt: skip
    return Page[EventOut](items=items, next_cursor=cursor)


OPERATIONS = [
    Operation(
        name="calendars_events",
        title="Calendar events",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        description="Events between start and end, in start order. Times are UTC.",
        input=CalendarsEvents,
        output=Page[EventOut],
        handler=calendars_events,
        rest=("GET", "/events"),
    ),
    Operation(
        name="tasks_list",
        title="List tasks",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        description="Tasks, earliest due first.",
        input=TasksList,
        output=Page[TaskOut],
        handler=tasks_list,
        rest=("GET", "/tasks"),
    ),
    Operation(
        name="notes_list",
        title="List notes",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        description="Notes, newest first, each with who wrote it and via which channel (ui, mcp...).",
        input=NotesList,
        output=Page[NoteOut],
        handler=notes_list,
        rest=("GET", "/notes"),
    ),
    Operation(
        name="tasks_create",
        title="Create a task",
        scope=Scope.WRITE,
        read_only=False,
        description="Create a task, optionally linked to a record.",
        input=TasksCreate,
        output=TaskOut,
        handler=tasks_create,
        rest=("POST", "/tasks"),
    ),
    Operation(
        name="tasks_update",
        title="Update a task",
        scope=Scope.WRITE,
        read_only=False,
        idempotent=True,
        description="Edit, reschedule, reassign, complete or reopen a task.",
        input=TasksUpdate,
        output=TaskOut,
        handler=tasks_update,
        rest=("PATCH", "/tasks/{task_id}"),
    ),
    Operation(
        name="notes_create",
        title="Add a note",
        scope=Scope.WRITE,
        read_only=False,
        description="Add a note to a record; it counts as activity (keeps a deal from going stale).",
        input=NotesCreate,
        output=NoteOut,
        handler=notes_create,
        rest=("POST", "/notes"),
    ),
]
