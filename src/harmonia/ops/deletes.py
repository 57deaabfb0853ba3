"""Deleting what a person wrote by mistake: a note, a task (REST and UI only; an AI client cannot delete).

Contacts, accounts and deals are not deleted: a lost deal is moved to a lost stage and stays in the history the
reports and the audit log point at.
"""

from __future__ import annotations

from ..models import Note, Task
from ..services import activities as svc
from ..services.records import get_or_404
from .common import RecordId
from .policies import author_or_manager
from .registry import OpContext, Operation, Scope
from .schema import InputModel, OutputModel

__all__ = ["OPERATIONS"]


class Deleted(OutputModel):
    id: str
    deleted: bool


class NotesDelete(InputModel):
    note_id: RecordId


class TasksDelete(InputModel):
    task_id: RecordId


def notes_delete(ctx: OpContext, args: NotesDelete) -> Deleted:
    note = get_or_404(ctx.uow, Note, args.note_id, "note")
    ctx.audit_target("note", note.id, before={"body": note.body[:500], "record_id": note.record_id})
    svc.delete_note(ctx.uow, note)
    return Deleted(id=note.id, deleted=True)


def tasks_delete(ctx: OpContext, args: TasksDelete) -> Deleted:
    task = get_or_404(ctx.uow, Task, args.task_id, "task")
    ctx.audit_target("task", task.id, before={"title": task.title, "status": task.status})
    svc.delete_task(ctx.uow, task)
    return Deleted(id=task.id, deleted=True)


OPERATIONS = [
    Operation(
        name="notes_delete",
        title="Delete a note",
        scope=Scope.WRITE,
        read_only=False,
        destructive=True,
        idempotent=False,
        mcp=False,
        description="Delete a note (its author, or an owner or admin). The audit log keeps what it said.",
        input=NotesDelete,
        output=Deleted,
        handler=notes_delete,
        policy=author_or_manager("note"),
        rest=("DELETE", "/notes/{note_id}"),
    ),
    Operation(
        name="tasks_delete",
        title="Delete a task",
        scope=Scope.WRITE,
        read_only=False,
        destructive=True,
        mcp=False,
        description="Delete a task (its creator, or an owner or admin). The audit log keeps its title.",
        input=TasksDelete,
        output=Deleted,
        handler=tasks_delete,
        policy=author_or_manager("task"),
        rest=("DELETE", "/tasks/{task_id}"),
    ),
]
