"""Reviewing what an AI client drafted, and what the gate refused (web UI and REST only; not in the MCP catalogue).

A person lists drafts with who wrote them and for whom, edits or discards one, and sends it with `email_send`
(`draft_id`) — the one gate. A refused (blocked) message is retried with `messages_retry`, which runs the gate again.
The inbox asks `conversations_previews` for each listed thread's last words and its draft and blocked markers.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field, model_validator

from ..errors import OutboundBlocked
from ..models import Message
from ..services import drafts as svc
from .common import Page, PageArgs, RecordId
from .comms import MessageOut, Subject, message_out
from .registry import OpContext, Operation, Scope
from .schema import REST_ONLY, InputModel, OutputModel

__all__ = ["OPERATIONS"]


class ReviewOut(OutputModel):
    """A draft or a refused message, with who it is for, what it is about, and who wrote it through what."""

    id: str
    conversation_id: str
    channel: str
    status: str
    subject: str | None = None
    body: str
    created_at: datetime
    contact_id: str | None = None
    contact_name: str | None = None
    to: str | None = None
    account_name: str | None = None
    opportunity_id: str | None = None
    opportunity_name: str | None = None
    author_id: str | None = None
    author_name: str | None = None
    via: str | None = None
    client: str | None = None
    rule: str | None = None
    status_reason: str | None = None
    draft_id: str | None = None


def _reviews(ctx: OpContext, rows: list[Message], *, rules: dict[str, str] | None = None) -> list[ReviewOut]:
    parties = svc.parties(ctx.uow, {m.conversation_id for m in rows})
    names = svc.user_names(ctx.uow, {a for m in rows if (a := m.created_by or m.sent_by)})
    out = []
    for m in rows:
        p = parties.get(m.conversation_id)
        author = m.created_by or m.sent_by
        out.append(ReviewOut(
            id=m.id, conversation_id=m.conversation_id, channel=m.channel, status=m.status, subject=m.subject,
            body=m.body or "", created_at=m.created_at, contact_id=p.contact_id if p else None,
            contact_name=p.contact_name if p else None,
            to=(p.email if m.channel == "email" else p.phone) if p else None,
            account_name=p.account_name if p else None, opportunity_id=p.opportunity_id if p else None,
            opportunity_name=p.opportunity_name if p else None, author_id=author,
            author_name=names.get(author) if author else None, via=m.created_via, client=m.created_client,
            rule=(rules or {}).get(m.id, m.rule), status_reason=m.status_reason, draft_id=m.draft_id,
        ))  # fmt: skip
    return out


class DraftsList(PageArgs):
    draft_id: RecordId | None = Field(None, description="just this draft (an empty list once it is sent or discarded)")
    contact_id: RecordId | None = None
    opportunity_id: RecordId | None = Field(None, description="the drafts to this deal's contact")
    conversation_id: RecordId | None = None


def drafts_list(ctx: OpContext, args: DraftsList) -> Page[ReviewOut]:
    contact_id = args.contact_id
    if args.opportunity_id:
        contact_id = svc.opportunity_contact(ctx.uow, args.opportunity_id)
        if contact_id is None:
            return Page[ReviewOut](items=[])
    rows, cursor = svc.drafts_page(ctx.uow, draft_id=args.draft_id, contact_id=contact_id,
                                   conversation_id=args.conversation_id, limit=args.limit, cursor=args.cursor)  # fmt: skip
    rules = svc.last_rules(ctx.uow, {m.id for m in rows})  # a draft already tried says what refused it
    return Page[ReviewOut](items=_reviews(ctx, rows, rules=rules), next_cursor=cursor)


class BlockedList(PageArgs):
    contact_id: RecordId | None = None


def blocked_list(ctx: OpContext, args: BlockedList) -> Page[ReviewOut]:
    rows, cursor = svc.blocked_page(ctx.uow, contact_id=args.contact_id, limit=args.limit, cursor=args.cursor)
    return Page[ReviewOut](items=_reviews(ctx, rows), next_cursor=cursor)


class ReviewCounts(InputModel):
    pass


class ReviewCountsOut(OutputModel):
    drafts: int
    blocked: int


def review_counts(ctx: OpContext, args: ReviewCounts) -> ReviewCountsOut:
    drafts, blocked = svc.counts(ctx.uow)
    return ReviewCountsOut(drafts=drafts, blocked=blocked)


class DraftsUpdate(InputModel):
    model_config = ConfigDict(json_schema_extra={REST_ONLY: {"anyOf": [{"required": ["subject"]},
                                                                       {"required": ["body"]}]}})  # fmt: skip
    draft_id: RecordId
    subject: Subject | None = Field(None, min_length=1, max_length=300)
    body: str | None = Field(None, min_length=1, max_length=20_000)

    @model_validator(mode="after")
    def _something(self) -> DraftsUpdate:
        if self.subject is None and self.body is None:
            raise ValueError("give a new subject, a new body, or both")
        return self


def drafts_update(ctx: OpContext, args: DraftsUpdate) -> MessageOut:
    msg, before = svc.edit(ctx.uow, args.draft_id, subject=args.subject, body=args.body)
    ctx.audit_target("message", msg.id, before=before, after={"subject": msg.subject, "body": msg.body[:200]})
    return message_out(msg)


class DraftsDiscard(InputModel):
    draft_id: RecordId


def drafts_discard(ctx: OpContext, args: DraftsDiscard) -> MessageOut:
    msg = svc.discard(ctx.uow, args.draft_id)
    ctx.audit_target("message", msg.id, before={"status": "draft", "subject": msg.subject},
                     after={"status": msg.status, "rule": msg.rule})  # fmt: skip
    return message_out(msg)


class MessagesRetry(InputModel):
    message_id: RecordId


def messages_retry(ctx: OpContext, args: MessagesRetry) -> MessageOut:
    msg, decision = svc.retry(ctx.uow, args.message_id)
    ctx.audit_target("message", msg.id, after={"status": msg.status})
    if not decision.allowed:
        ctx.refuse(OutboundBlocked(decision.rule or "blocked", f"{(decision.reason or '').rstrip('.')}. Nothing was "
                                   f"sent; the message stays blocked ({msg.id}) and can be retried once that is "
                                   "resolved.", message_id=msg.id))  # fmt: skip
    return message_out(msg)


class ConversationsPreviews(InputModel):
    conversation_ids: list[RecordId] = Field(min_length=1, max_length=100)


class PreviewOut(OutputModel):
    conversation_id: str
    last_message: str | None = None
    last_direction: str | None = None
    account_name: str | None = None
    drafts: int
    blocked: int


class PreviewsOut(OutputModel):
    items: list[PreviewOut]


def conversations_previews(ctx: OpContext, args: ConversationsPreviews) -> PreviewsOut:
    ids = set(args.conversation_ids)
    previews = svc.previews(ctx.uow, ids)
    parties = svc.parties(ctx.uow, ids)
    items = []
    for conv_id in args.conversation_ids:  # the caller's order; an id of no thread here is simply not answered
        if conv_id not in parties:
            continue
        p = previews[conv_id]
        items.append(PreviewOut(conversation_id=conv_id, last_message=p.last_message, last_direction=p.last_direction,
                                account_name=parties[conv_id].account_name, drafts=p.drafts,
                                blocked=p.blocked))  # fmt: skip
    return PreviewsOut(items=items)


OPERATIONS = [
    Operation(
        name="drafts_list",
        title="Drafts to review",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        mcp=False,
        description="Email drafts waiting for a person, newest first: recipient, company, the contact's open deal, "
        "and who wrote each (person, channel, AI client). Of one contact, deal or thread if given.",
        input=DraftsList,
        output=Page[ReviewOut],
        handler=drafts_list,
        rest=("GET", "/drafts"),
    ),
    Operation(
        name="blocked_list",
        title="Messages the gate refused",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        mcp=False,
        description="Blocked messages still waiting for a person (attempts of drafts sent or discarded since are left "
        "out), newest first, each with its recipient and the rule that refused it.",
        input=BlockedList,
        output=Page[ReviewOut],
        handler=blocked_list,
        rest=("GET", "/messages/blocked"),
    ),
    Operation(
        name="review_counts",
        title="Drafts and blocked messages waiting",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        mcp=False,
        audit_reads=False,  # asked by every page for its navigation badge: not a record anyone read
        description="How many email drafts wait for review and how many blocked messages wait for a retry.",
        input=ReviewCounts,
        output=ReviewCountsOut,
        handler=review_counts,
        rest=("GET", "/drafts/counts"),
    ),
    Operation(
        name="drafts_update",
        title="Edit a draft",
        scope=Scope.WRITE,
        read_only=False,
        idempotent=True,
        mcp=False,
        description="Change an email draft's subject or body before it is sent. Never sends anything.",
        input=DraftsUpdate,
        output=MessageOut,
        handler=drafts_update,
        rest=("PATCH", "/drafts/{draft_id}"),
    ),
    Operation(
        name="drafts_discard",
        title="Discard a draft",
        scope=Scope.WRITE,
        read_only=False,
        destructive=True,
        idempotent=False,
        mcp=False,
        description="Discard an email draft: it stays in its thread as failed (discarded) and can never be sent.",
        input=DraftsDiscard,
        output=MessageOut,
        handler=drafts_discard,
        rest=("POST", "/drafts/{draft_id}/discard"),
    ),
    Operation(
        name="messages_retry",
        title="Retry a blocked message",
        scope=Scope.COMMS,
        read_only=False,
        open_world=True,
        mcp=False,
        description="Run the gate again for a blocked message (for a refused attempt of a draft: send the draft). "
        "Allowed: it is queued; still refused: it stays blocked and the answer names the rule.",
        input=MessagesRetry,
        output=MessageOut,
        handler=messages_retry,
        rest=("POST", "/messages/{message_id}/retry"),
    ),
    Operation(
        name="conversations_previews",
        title="Thread previews",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        mcp=False,
        audit_reads=False,  # the inbox list's decoration; the threads themselves are read through conversations_list
        description="For up to 100 threads: the newest message's opening words, the contact's company, and how many "
        "drafts and blocked messages each holds.",
        input=ConversationsPreviews,
        output=PreviewsOut,
        handler=conversations_previews,
        rest=("GET", "/conversation-previews"),
    ),
]
