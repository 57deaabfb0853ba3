"""What happened on a record, and the outbox by status: the contact and deal pages' timeline and the held-message
list of Settings → Comms (mcp=False; an AI client reads the same facts through contacts_get and opportunities_get).

Every timeline entry answers "who did this?": a person (user), and through which channel — ui, api, mcp (with the
AI client's token name), workflow, cli or system.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from ..models import Message, Note, Task
from ..record_types import TimelineKind
from ..services import timeline as svc
from .common import MessageChannel, MessageStatus, Page, PageArgs, RecordId
from .comms import MessageOut, message_out
from .registry import OpContext, Operation, Scope
from .schema import InputModel, OutputModel

__all__ = ["OPERATIONS"]


class TimelineEntry(OutputModel):
    at: datetime
    kind: str  # message / note / task / stage_move / workflow_step
    summary: str
    detail: str | None = None
    status: str | None = None
    record_id: str
    by: str | None = None  # the person's name
    via: str | None = None  # ui / api / mcp / workflow / cli / system
    client: str | None = None  # the AI client or token name, when via is mcp or api
    due_at: datetime | None = None  # tasks: when it is due (pages show it in the reader's time zone)
    opportunity_id: str | None = None  # the deal it belongs to, when it belongs to one (a contact's page names it)


class Timeline(OutputModel):
    record_type: str
    record_id: str
    items: list[TimelineEntry]


class RecordsTimeline(InputModel):
    record_type: TimelineKind
    record_id: RecordId
    limit: int = Field(50, ge=1, le=200)


def _who(row: Any, names: dict[str, str]) -> dict[str, Any]:
    return {"by": names.get(row.created_by or ""), "via": row.created_via, "client": row.created_client}


def _deal(row: Note | Task) -> dict[str, Any]:
    return {"opportunity_id": row.record_id} if row.record_type == "opportunity" else {}


def records_timeline(ctx: OpContext, args: RecordsTimeline) -> Timeline:
    n = args.limit
    h = svc.history(ctx.uow, args.record_type, args.record_id, n)
    names, stages = h.names, h.stages
    messages, notes, tasks, moves = h.messages, h.notes, h.tasks, h.moves
    items = [
        TimelineEntry(at=m.created_at, kind="message", record_id=m.id, status=m.status,
                      summary=_message_summary(m), detail=m.status_reason, **_who(m, names))
        for m in messages
    ] + [
        TimelineEntry(at=x.created_at, kind="note", record_id=x.id, summary=x.body[:500], **_deal(x),
                      **_who(x, names))
        for x in notes
    ] + [
        TimelineEntry(at=t.created_at, kind="task", record_id=t.id, status=t.status,
                      summary=t.title, detail=f"due {t.due_at:%Y-%m-%d %H:%M} UTC" if t.due_at else None,
                      due_at=t.due_at, **_deal(t), **_who(t, names))
        for t in tasks
    ] + [
        TimelineEntry(at=m.at, kind="stage_move", record_id=m.opportunity_id,
                      summary=f"{stages.get(m.from_stage_id, '?')} → {stages.get(m.to_stage_id, '?')}"
                      if m.from_stage_id else f"Created in {stages.get(m.to_stage_id, '?')}",
                      detail=m.reason, opportunity_id=m.opportunity_id, **_who(m, names))
        for m in moves
    ] + [
        TimelineEntry(at=run.finished_at or run.created_at, kind="workflow_step", record_id=e.id, status=run.status,
                      summary=f"{name}: step {run.step_index + 1}, {run.action.replace('_', ' ')}"
                      + (f" (v{e.version})" if e.version > 1 else ""),
                      detail=run.detail, opportunity_id=e.opportunity_id, via="workflow", client=f"workflow {e.workflow_id}")
        for run, e, name in h.steps
    ]  # fmt: skip
    items.sort(key=lambda e: e.at, reverse=True)
    return Timeline(record_type=args.record_type, record_id=args.record_id, items=items[:n])


def _message_summary(m: Message) -> str:
    arrow = "←" if m.direction == "inbound" else "→"
    if m.channel == "call":
        outcome = f" ({m.outcome.replace('_', ' ')})" if m.outcome else ""
        return f"{arrow} Call{outcome}" + (f": {m.body[:200]}" if m.body else "")
    head = f"{m.subject}: " if m.subject else ""
    return f"{arrow} {'SMS' if m.channel == 'sms' else m.channel.capitalize()} {head}{m.body[:300]}"


class MessagesList(PageArgs):
    status: MessageStatus | None = None
    channel: MessageChannel | None = None
    conversation_id: RecordId | None = None


def messages_list(ctx: OpContext, args: MessagesList) -> Page[MessageOut]:
    filters = {name: getattr(args, name) for name in ("status", "channel", "conversation_id")}
    rows, cursor = svc.list_messages(ctx.uow, filters, limit=args.limit, cursor=args.cursor)
    return Page[MessageOut](items=[message_out(m) for m in rows], next_cursor=cursor)


OPERATIONS = [
    Operation(
        name="records_timeline",
        title="Timeline of a contact or deal",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        mcp=False,
        description="Messages, notes, tasks, stage moves and workflow steps of a contact (with its deals) or a deal, "
        "newest first, each with who did it and through which channel or AI client.",
        input=RecordsTimeline,
        output=Timeline,
        handler=records_timeline,
        rest=("GET", "/timeline"),
    ),
    Operation(
        name="messages_list",
        title="List messages",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        mcp=False,
        description="Messages across threads by status (e.g. held: waiting for a person to release or discard), "
        "channel or conversation; newest first.",
        input=MessagesList,
        output=Page[MessageOut],
        handler=messages_list,
        rest=("GET", "/messages"),
    ),
]
