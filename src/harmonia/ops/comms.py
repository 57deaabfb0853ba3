"""Conversation reads, email drafts, the four sends, and the switch and held-message operations (UI/REST only)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, ConfigDict, Field, model_validator
from sqlalchemy import bindparam, select

from ..errors import InvalidArguments, OutboundBlocked
from ..ids import new_id
from ..models import Contact, Conversation, Message, Tenant, User
from ..queries import TENANT, Query
from ..services import comms as svc
from ..services import tenancy
from ..services.paging import Listing, at_least, eq, named, page, with_names
from ..services.records import get_or_404, not_found
from ..untrusted import Fence
from .common import ContactId, ConversationId, Page, PageArgs, RecordId, Since, UserId
from .policies import outbound_on_needs_an_owner_at_the_server
from .registry import OpContext, Operation, Scope
from .schema import REST_ONLY, InputModel, OutputModel, rest_only

__all__ = ["OPERATIONS"]

Channel = Literal["email", "sms", "call"]
IdemKey = Field(None, min_length=8, max_length=200, description="one send per key per 24 h")


def _one_line(value: str) -> str:
    """A subject becomes a mail header: a line break there would forge headers (or poison the send)."""
    if any((ord(ch) < 32 and ch != "\t") or ch in "\x7f\x85\u2028\u2029" for ch in value):
        raise ValueError("a subject is one line: remove line breaks and control characters")
    return value


Subject = Annotated[str, AfterValidator(_one_line)]


class ConversationOut(OutputModel):
    id: str
    contact_id: str
    contact_name: str | None = None
    channel: str
    status: str
    unread: bool
    subject: str | None = None
    assignee_id: str | None = None
    assignee_name: str | None = None
    last_message_at: datetime | None = None


def conversation_out(c: Any) -> ConversationOut:
    """`c`: a row of the conversation reads, with its contact's and assignee's names."""
    return ConversationOut(
        id=c.id,
        contact_id=c.contact_id,
        contact_name=f"{c.contact_first_name or ''} {c.contact_last_name or ''}".strip() or None,
        channel=c.channel,
        status=c.status,
        unread=c.unread,
        subject=c.subject,
        assignee_id=c.assignee_id,
        assignee_name=c.assignee_name,
        last_message_at=c.last_message_at,
    )


class MessageOut(OutputModel):
    id: str
    conversation_id: str
    channel: str
    direction: str
    status: str
    body: str
    subject: str | None = None
    status_reason: str | None = None
    rule: str | None = None
    draft_id: str | None = None
    sent_by: str | None = None
    via: str | None = None
    duration_seconds: int | None = None
    outcome: str | None = None
    created_at: datetime


def message_out(m: Message, fence: Fence | None = None) -> MessageOut:
    """`fence` marks an inbound message's body and subject as untrusted external content (harmonia.untrusted)."""
    fence = fence or Fence.plain()
    body, subject = (fence.mark_inbound(t, m.direction, m.channel) for t in (m.body, m.subject))
    return MessageOut(id=m.id, conversation_id=m.conversation_id, channel=m.channel, direction=m.direction,
                      status=m.status, body=body or "", subject=subject, status_reason=m.status_reason,
                      rule=m.rule, draft_id=m.draft_id, sent_by=m.sent_by, via=m.created_via,
                      duration_seconds=m.duration_seconds, outcome=m.outcome,
                      created_at=m.created_at)  # fmt: skip


class ConversationsList(PageArgs):
    contact_id: ContactId | None = None
    channel: Channel | None = None
    status: Literal["open", "closed"] | None = None
    assignee_id: UserId | None = None
    unread: bool | None = None
    updated_since: Since | None = None


_CONVERSATION_COLUMNS = ("id", "contact_id", "channel", "subject", "assignee_id", "status", "unread",
                         "last_message_at", "updated_at")  # fmt: skip
# The thread's contact and assignee by name, in the thread's own statement.
_CONVERSATION_NAMES = (
    named(Contact.__table__, "contact_id", contact_first_name="first_name", contact_last_name="last_name"),
    named(User.__table__, "assignee_id", assignee_name="name"),
)
_CONVERSATION_LIST = Listing(
    Conversation.__table__,
    _CONVERSATION_COLUMNS,
    {
        **{f: eq(f) for f in ("contact_id", "channel", "status", "assignee_id", "unread")},
        "updated_since": at_least("updated_at"),
    },
    {"updated_desc": ("updated_at", True)},
    _CONVERSATION_NAMES,
)
_CV = Conversation.__table__
_CONVERSATION = Query(
    with_names(select(*(_CV.c[k] for k in _CONVERSATION_COLUMNS)), _CV, _CONVERSATION_NAMES).where(
        _CV.c.tenant_id == TENANT, _CV.c.id == bindparam("conversation_id")
    )
)


def conversations_list(ctx: OpContext, args: ConversationsList) -> Page[ConversationOut]:
    values = {
        f: getattr(args, f) for f in ("contact_id", "channel", "status", "assignee_id", "unread", "updated_since")
    }
    rows, cursor = _CONVERSATION_LIST.page(ctx.uow, values, sort="updated_desc", limit=args.limit, cursor=args.cursor)
    return Page[ConversationOut](items=[conversation_out(c) for c in rows], next_cursor=cursor)


class ConversationsGet(PageArgs):
    conversation_id: ConversationId


class ThreadOut(ConversationOut):
    messages: list[MessageOut]
    next_cursor: str | None = None


def conversations_get(ctx: OpContext, args: ConversationsGet) -> ThreadOut:
    conv = _CONVERSATION.first(ctx.uow, conversation_id=args.conversation_id)
    if conv is None:
        raise not_found(args.conversation_id, "conversation")
    rows, cursor = page(
        ctx.session,
        select(Message).where(Message.conversation_id == conv.id),
        sort=Message.created_at,
        tiebreak=Message.id,
        limit=args.limit,
        cursor=args.cursor,
    )
    fence = Fence.for_channel(ctx.actor.channel)  # one nonce per response
    return ThreadOut(
        **conversation_out(conv).model_dump(exclude_none=True),
        messages=[message_out(m, fence) for m in rows],
        next_cursor=cursor,
    )


class EmailDraft(InputModel):
    contact_id: ContactId
    subject: Subject = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=20_000, description="plain text")


def email_draft(ctx: OpContext, args: EmailDraft) -> MessageOut:
    contact = get_or_404(ctx.uow, Contact, args.contact_id, "contact")
    conv = svc.thread(ctx.uow, contact, "email", args.subject)
    msg = Message(id=new_id("message"), conversation_id=conv.id, direction="outbound", channel="email",
                  subject=args.subject, body=args.body, status="draft", sent_by=ctx.actor.user_id)  # fmt: skip
    ctx.session.add(msg)
    ctx.session.flush()
    ctx.audit_target("message", msg.id, after={"status": "draft", "contact_id": contact.id})
    return message_out(msg)


def _digest(args: InputModel) -> str:
    data = args.model_dump(mode="json", exclude={"idempotency_key"}, exclude_none=True)
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _send(ctx: OpContext, args: Any, *, contact_id: str | None = None, channel: str, body: str | None = None,
          subject: str | None = None, draft_id: str | None = None) -> MessageOut:  # fmt: skip
    digest = _digest(args)
    key = args.idempotency_key
    draft = (
        svc.lock_message(ctx.uow, draft_id, "draft_id") if draft_id else None
    )  # two sends of one draft: one waits here
    previous = svc.find_idempotent(ctx.uow, key, digest)
    if previous is None and draft is not None:
        svc.check_draft(draft)
        conv = get_or_404(ctx.uow, Conversation, draft.conversation_id, "conversation")
        contact_id, body, subject = conv.contact_id, draft.body, draft.subject
    if previous is None:
        assert contact_id is not None and body is not None
        try:
            msg, decision = svc.queue(ctx.uow, contact_id=contact_id, channel=channel, body=body, subject=subject,
                                      key=key, digest=digest, draft=draft)  # fmt: skip
        except svc.IdempotencyKeyTaken:  # a concurrent call with this key committed first: its result is ours
            previous = svc.find_idempotent(ctx.uow, key, digest)
            assert previous is not None
    if previous is not None:
        ctx.detail = "idempotent replay"
        ctx.audit_target("message", previous.id)
        if previous.status == "blocked":
            ctx.refuse(_blocked(previous, previous.rule or "blocked", _reason(previous)))
        return message_out(previous)
    ctx.audit_target("message", msg.id, after={"status": msg.status, "channel": channel})
    if not decision.allowed:
        ctx.refuse(_blocked(msg, decision.rule or "blocked", decision.reason or ""))
    return message_out(msg)


def _reason(msg: Message) -> str:
    text = msg.status_reason or ""
    return text.split(". ", 1)[1] if text.startswith("blocked: ") and ". " in text else text


def _blocked(msg: Message, rule: str, reason: str) -> OutboundBlocked:
    """The refusal a caller gets, saying what was kept and what to do next."""
    if msg.draft_id:
        kept = (
            f"Nothing was sent. The draft {msg.draft_id} is still a draft: once that is resolved, send it again "
            f"with draft_id (and a new idempotency_key). The refused attempt is kept in the thread as {msg.id}."
        )
    else:
        kept = f"The message is kept in the thread as blocked ({msg.id}); nothing was sent."
    return OutboundBlocked(rule, f"{reason.rstrip('.')}. {kept}", message_id=msg.id,
                           **({"draft_id": msg.draft_id} if msg.draft_id else {}))  # fmt: skip


def _given(*names: str) -> dict[str, Any]:
    return {"required": list(names), "properties": {n: {"type": "string"} for n in names}}


MAX_CC = 49  # a send to at most 50 contacts; a larger one is a sequence (workflows), paced and stoppable


class EmailSend(InputModel):
    # null counts as absent, as the server reads it
    model_config = ConfigDict(json_schema_extra={REST_ONLY: {"oneOf": [
        {**_given("draft_id"), "not": {"anyOf": [_given("contact_id"), _given("body")]}},
        {**_given("contact_id", "subject", "body"), "not": _given("draft_id")},
    ]}})  # fmt: skip
    contact_id: ContactId | None = None
    subject: Subject | None = Field(None, min_length=1, max_length=300)
    body: str | None = Field(None, min_length=1, max_length=20_000, description="plain text")
    draft_id: RecordId | None = Field(
        None,
        description="ms_ id (email_draft)",
        json_schema_extra=rest_only(description="send this email draft instead"),
    )
    cc: list[ContactId] | None = Field(None, max_length=MAX_CC, description="more ct_ ids: a preview first")
    confirmation_id: RecordId | None = Field(None, description="from the preview")
    idempotency_key: str | None = IdemKey

    @model_validator(mode="after")
    def _one_form(self) -> EmailSend:
        if self.draft_id and (self.contact_id or self.body):
            raise ValueError("give either draft_id, or contact_id + subject + body, not both")
        if not self.draft_id and not (self.contact_id and self.subject and self.body):
            raise ValueError("give contact_id, subject and body (or draft_id)")
        if self.draft_id and (self.cc or self.confirmation_id):
            raise ValueError("cc and confirmation_id go with contact_id, subject and body, not with draft_id")
        return self

    def recipients(self) -> list[str]:
        return sorted({self.contact_id or "", *(self.cc or [])} - {""})


class Recipient(OutputModel):
    contact_id: str
    name: str | None = None
    email: str | None = None
    would_send: bool
    rule: str | None = None
    reason: str | None = None


class EmailSendOut(MessageOut):
    """One message (a single send), or a preview (several recipients, not yet confirmed), or the messages a
    confirmed send wrote."""

    id: str | None = None  # type: ignore[assignment]
    conversation_id: str | None = None  # type: ignore[assignment]
    channel: str | None = None  # type: ignore[assignment]
    direction: str | None = None  # type: ignore[assignment]
    body: str | None = None  # type: ignore[assignment]
    created_at: datetime | None = None  # type: ignore[assignment]
    confirmation_id: str | None = None
    expires_at: datetime | None = None
    recipients: list[Recipient] | None = None
    messages: list[MessageOut] | None = None
    next_step: str | None = None


def email_send(ctx: OpContext, args: EmailSend) -> EmailSendOut:
    if args.draft_id:
        sent = _send(ctx, args, channel="email", draft_id=args.draft_id)
    elif len(args.recipients()) > 1:
        return _send_to_several(ctx, args)
    else:
        assert args.contact_id and args.body
        sent = _send(ctx, args, contact_id=args.contact_id, channel="email", body=args.body, subject=args.subject)
    return EmailSendOut(**dict(sent))


def _send_to_several(ctx: OpContext, args: EmailSend) -> EmailSendOut:
    """Two steps: without confirmation_id, a preview bound to exactly these recipients and this text (nothing is
    queued); with it, the send — once: a repeated call answers what it wrote. The gate judges every message when it
    is queued and again when it is delivered, as for any send."""
    assert args.contact_id and args.body
    to = args.recipients()
    get_or_404(ctx.uow, Contact, args.contact_id, "contact")
    digest = svc.send_digest("email", to, args.subject, args.body)
    if args.confirmation_id is None:
        confirmation, verdicts = svc.preview_send(ctx.uow, channel="email", contact_ids=to, subject=args.subject,
                                                  body=args.body, field="cc")  # fmt: skip
        ctx.audit_target("send_confirmation", confirmation.id, after={"recipients": len(to), "status": "preview"})
        going = sum(d.allowed for _, d in verdicts)
        return EmailSendOut(
            status="preview", subject=args.subject, confirmation_id=confirmation.id,
            expires_at=confirmation.expires_at,
            recipients=[Recipient(contact_id=c.id, name=f"{c.first_name or ''} {c.last_name or ''}".strip() or None,
                                  email=c.email, would_send=d.allowed, rule=d.rule, reason=d.reason)
                        for c, d in verdicts],
            next_step=f"Nothing was sent. {going} of {len(to)} recipients may receive it now. To send it, call "
            "email_send again with the same contact_id, cc, subject and body and this confirmation_id (within "
            f"{svc.CONFIRMATION_TTL.seconds // 60} minutes, once); other recipients or text need a new preview.",
        )  # fmt: skip
    confirmation, replayed = svc.confirm_send(ctx.uow, args.confirmation_id, digest)
    if replayed:
        ctx.detail = "confirmed send replayed"
        messages = svc.messages_by_id(ctx.uow, confirmation.message_ids or [])
    else:
        messages = []
        for contact_id in confirmation.contact_ids:
            msg, _ = svc.queue(ctx.uow, contact_id=contact_id, channel="email", body=args.body, subject=args.subject)
            messages.append(msg)
        confirmation.message_ids = [m.id for m in messages]
    ctx.audit_target("send_confirmation", confirmation.id,
                     after={"status": "confirmed", "queued": sum(m.status == "queued" for m in messages),
                            "blocked": sum(m.status == "blocked" for m in messages)})  # fmt: skip
    blocked = [m for m in messages if m.status == "blocked"]
    if messages and len(blocked) == len(messages) and not replayed:
        ctx.refuse(OutboundBlocked(blocked[0].rule or "blocked", f"{_reason(blocked[0]).rstrip('.')}. None of the "
                                   f"{len(messages)} messages may go; each is kept in its thread as blocked and nothing "
                                   "was sent.", message_ids=[m.id for m in messages]))  # fmt: skip
    return EmailSendOut(status="confirmed", subject=args.subject, confirmation_id=confirmation.id,
                        messages=[message_out(m) for m in messages])  # fmt: skip


class SmsSend(InputModel):
    contact_id: ContactId
    body: str = Field(min_length=1, max_length=1600)
    idempotency_key: str | None = IdemKey


def sms_send(ctx: OpContext, args: SmsSend) -> MessageOut:
    return _send(ctx, args, contact_id=args.contact_id, channel="sms", body=args.body)


class CallsPlace(InputModel):
    contact_id: ContactId
    purpose: str = Field("", max_length=500, description="kept on the call record")
    idempotency_key: str | None = IdemKey


def calls_place(ctx: OpContext, args: CallsPlace) -> MessageOut:
    return _send(ctx, args, contact_id=args.contact_id, channel="call", body=args.purpose)


class ConversationsReply(InputModel):
    conversation_id: ConversationId
    body: str = Field(min_length=1, max_length=20_000, description="plain text")
    idempotency_key: str | None = IdemKey


def conversations_reply(ctx: OpContext, args: ConversationsReply) -> MessageOut:
    conv = get_or_404(ctx.uow, Conversation, args.conversation_id, "conversation")
    subject = f"Re: {conv.subject}" if conv.channel == "email" and conv.subject else None
    return _send(ctx, args, contact_id=conv.contact_id, channel=conv.channel, body=args.body, subject=subject)


class OutboundSet(InputModel):
    enabled: bool
    reason: str = Field(min_length=3, max_length=500)


class OutboundState(OutputModel):
    outbound_enabled: bool
    changed_by: str | None = None
    reason: str | None = None


def outbound_set(ctx: OpContext, args: OutboundSet) -> OutboundState:
    tenant = ctx.session.get(Tenant, ctx.tenant_id)
    assert tenant is not None
    before = tenant.outbound_enabled
    tenancy.apply_outbound(tenant, args.enabled, ctx.actor, args.reason)
    ctx.audit_target("tenant", tenant.id, before={"outbound_enabled": before}, after={"outbound_enabled": args.enabled})
    ctx.detail = args.reason
    return OutboundState(
        outbound_enabled=tenant.outbound_enabled, changed_by=tenant.outbound_changed_by, reason=tenant.outbound_reason
    )


class MessagesRelease(InputModel):
    message_id: RecordId
    action: Literal["release", "discard"]


def messages_release(ctx: OpContext, args: MessagesRelease) -> MessageOut:
    msg = svc.lock_message(ctx.uow, args.message_id)
    if msg.status not in ("held", "unknown"):
        raise InvalidArguments(f"message {msg.id} is {msg.status}: only held messages, or ones whose outcome is "
                               "unknown, are released or discarded")  # fmt: skip
    if args.action == "discard":
        msg.status, msg.rule = "failed", "discarded"
        msg.status_reason = f"discarded by {ctx.actor.user_id or ctx.actor.channel}"
    else:
        msg.status, msg.status_reason, msg.rule = "queued", None, None  # the gate runs again, in full, at delivery
        msg.lease_owner, msg.leased_until = None, None
        ctx.uow.emit("message_queued", subject=("message", msg.id), channel=msg.channel)
    ctx.audit_target("message", msg.id, after={"status": msg.status})
    return message_out(msg)


def _obeys(*rules: str) -> str:
    """The rules a send obeys (comms/gate.py checks them at delivery), said on the tool itself for a model."""
    *first, last = ("the outbound switch", "do-not-disturb", *rules)
    return f" Obeys {', '.join(first)} and {last}; a refusal says why and keeps the message."


_QUIET = "quiet hours (08:00-21:00 their time)"
OPERATIONS = [
    Operation(
        name="conversations_list",
        title="List conversations",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        description="Conversation threads (one per contact and channel), most recent first.",
        input=ConversationsList,
        output=Page[ConversationOut],
        handler=conversations_list,
        rest=("GET", "/conversations"),
    ),
    Operation(
        name="conversations_get",
        title="Get a conversation",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        description="One thread with its messages, newest first, each with its status (held and blocked say why) "
        "and who sent it via which channel.",
        input=ConversationsGet,
        output=ThreadOut,
        handler=conversations_get,
        rest=("GET", "/conversations/{conversation_id}"),
    ),
    Operation(
        name="email_draft",
        title="Draft an email",
        scope=Scope.WRITE,
        read_only=False,
        description="Write an email draft into the contact's thread for a person to review. Never delivers anything; "
        "email_send with draft_id sends it.",
        input=EmailDraft,
        output=MessageOut,
        handler=email_draft,
        rest=("POST", "/drafts"),
    ),
    Operation(
        name="email_send",
        title="Send an email",
        scope=Scope.COMMS,
        read_only=False,
        open_world=True,
        description="Email a contact, or send a draft (draft_id). With cc (more contacts, each in their own thread) "
        "the first call only previews who may receive it and answers a confirmation_id; the same call with it "
        "(within 10 minutes, once) sends exactly that." + _obeys("unsubscribes"),
        input=EmailSend,
        output=EmailSendOut,
        handler=email_send,
        rest=("POST", "/messages/email"),
    ),
    Operation(
        name="sms_send",
        title="Send an SMS",
        scope=Scope.COMMS,
        read_only=False,
        open_world=True,
        description="Text a contact." + _obeys("SMS opt-in", _QUIET),
        input=SmsSend,
        output=MessageOut,
        handler=sms_send,
        rest=("POST", "/messages/sms"),
    ),
    Operation(
        name="calls_place",
        title="Place a call",
        scope=Scope.COMMS,
        read_only=False,
        open_world=True,
        description="Phone a contact." + _obeys("call opt-in", _QUIET),
        input=CallsPlace,
        output=MessageOut,
        handler=calls_place,
        rest=("POST", "/messages/call"),
    ),
    Operation(
        name="conversations_reply",
        title="Reply in a conversation",
        scope=Scope.COMMS,
        read_only=False,
        open_world=True,
        description="Reply in a thread on its own channel." + _obeys("consent", f"{_QUIET} for SMS and calls"),
        input=ConversationsReply,
        output=MessageOut,
        handler=conversations_reply,
        rest=("POST", "/conversations/{conversation_id}/reply"),
    ),
    Operation(
        name="outbound_set",
        title="Outbound switch",
        scope=Scope.ADMIN,
        read_only=False,
        idempotent=True,
        mcp=False,
        description="Turn the workspace's outbound switch on (owner, web UI or server CLI only) or off, with a reason.",
        input=OutboundSet,
        output=OutboundState,
        handler=outbound_set,
        policy=outbound_on_needs_an_owner_at_the_server,
        rest=("POST", "/settings/outbound"),
    ),
    Operation(
        name="messages_release",
        title="Release or discard a held message",
        scope=Scope.ADMIN,
        read_only=False,
        mcp=False,
        description="A held message (queued before outbound went off), or one whose outcome is unknown (it may have "
        "left: check first), is sent only when a person releases it "
        "(the gate runs again in full) or discards it.",
        input=MessagesRelease,
        output=MessageOut,
        handler=messages_release,
        rest=("POST", "/messages/{message_id}/release"),
    ),
]
