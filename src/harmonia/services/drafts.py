"""Drafts a person reviews, and messages the gate refused: listing them with who they are for and who wrote them,
editing and discarding a draft, retrying a refused message, and the inbox's thread previews.

Sending a draft is `email_send` with `draft_id` (services/comms.py): nothing here delivers anything. A retry runs the
whole gate again: a refused message that may now go becomes queued itself (an attempt of a draft queues the draft);
one that still may not stays blocked, with the rule that refused it this time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, func, or_, select

from ..comms import gate
from ..db import UnitOfWork
from ..errors import InvalidArguments
from ..models import Account, Contact, Conversation, Message, Opportunity, Tenant, User
from . import contacts as contact_service
from .comms import check_draft, lock_message
from .paging import page
from .records import get_or_404

__all__ = ["Party", "blocked_page", "counts", "discard", "drafts_page", "edit", "parties", "previews", "retry"]

PREVIEW_CHARS = 160


@dataclass(frozen=True)
class Party:
    """Who a message is for and what it is about: the contact, their company, their newest open deal."""

    contact_id: str
    contact_name: str
    email: str | None
    phone: str | None
    account_name: str | None
    opportunity_id: str | None
    opportunity_name: str | None


def _draft_or_attempt_filter() -> Any:
    """A blocked message still needs a person: on its own, or as the newest refused attempt of a draft that is still a
    draft (a draft tried three times while outbound was off is one thing to retry, not three). Ids grow with time."""
    live_drafts = select(Message.id).where(Message.status == "draft")
    newest_attempts = (
        select(func.max(Message.id))
        .where(Message.status == "blocked", Message.draft_id.is_not(None))
        .group_by(Message.draft_id)
    )
    return or_(Message.draft_id.is_(None),
               and_(Message.draft_id.in_(live_drafts), Message.id.in_(newest_attempts)))  # fmt: skip


def _scoped(stmt: Select[Any], *, contact_id: str | None, conversation_id: str | None) -> Select[Any]:
    if conversation_id:
        stmt = stmt.where(Message.conversation_id == conversation_id)
    if contact_id:
        threads = select(Conversation.id).where(Conversation.contact_id == contact_id)
        stmt = stmt.where(Message.conversation_id.in_(threads))
    return stmt


def drafts_page(
    uow: UnitOfWork,
    *,
    draft_id: str | None,
    contact_id: str | None,
    conversation_id: str | None,
    limit: int | None,
    cursor: str | None,
) -> tuple[list[Message], str | None]:
    """Email drafts, newest first: all, one, or those of one contact or one thread."""
    stmt = _scoped(select(Message).where(Message.status == "draft"), contact_id=contact_id,
                   conversation_id=conversation_id)  # fmt: skip
    if draft_id:
        stmt = stmt.where(Message.id == draft_id)
    return page(uow.session, stmt, sort=Message.created_at, tiebreak=Message.id, limit=limit, cursor=cursor)


def blocked_page(
    uow: UnitOfWork, *, contact_id: str | None, limit: int | None, cursor: str | None
) -> tuple[list[Message], str | None]:
    """Refused messages still waiting for a person, newest first (attempts of a draft sent or discarded since are
    left out: nothing is waiting on them)."""
    stmt = select(Message).where(Message.status == "blocked", _draft_or_attempt_filter())
    stmt = _scoped(stmt, contact_id=contact_id, conversation_id=None)
    return page(uow.session, stmt, sort=Message.created_at, tiebreak=Message.id, limit=limit, cursor=cursor)


def counts(uow: UnitOfWork) -> tuple[int, int]:
    """How many drafts wait for review, and how many refused messages wait for a retry."""
    drafts = uow.session.scalar(select(func.count()).select_from(Message).where(Message.status == "draft"))
    blocked = uow.session.scalar(select(func.count()).select_from(Message)
                                 .where(Message.status == "blocked", _draft_or_attempt_filter()))  # fmt: skip
    return int(drafts or 0), int(blocked or 0)


def parties(uow: UnitOfWork, conversation_ids: set[str]) -> dict[str, Party]:
    """Each thread's contact with their company and newest open deal, in three queries whatever the page size."""
    if not conversation_ids:
        return {}
    rows = uow.session.execute(
        select(Conversation.id, Contact.id, Contact.first_name, Contact.last_name, Contact.email, Contact.phone,
               Account.name)
        .join(Contact, and_(Contact.tenant_id == Conversation.tenant_id, Contact.id == Conversation.contact_id))
        .outerjoin(Account, and_(Account.tenant_id == Contact.tenant_id, Account.id == Contact.account_id))
        .where(Conversation.id.in_(conversation_ids))
    ).all()  # fmt: skip
    contact_ids = {r[1] for r in rows}
    deals: dict[str, tuple[str, str]] = {}
    if contact_ids:
        newest_first = uow.session.execute(
            select(Opportunity.contact_id, Opportunity.id, Opportunity.name)
            .where(Opportunity.contact_id.in_(contact_ids), Opportunity.status == "open")
            .order_by(Opportunity.updated_at.desc())
        ).all()  # fmt: skip
        for contact, deal_id, name in newest_first:
            if contact is not None:
                deals.setdefault(contact, (deal_id, name))
    out = {}
    for conv_id, contact_id, first, last, email, phone, account in rows:
        deal = deals.get(contact_id)
        out[conv_id] = Party(contact_id=contact_id, contact_name=f"{first} {last}".strip(), email=email, phone=phone,
                             account_name=account, opportunity_id=deal[0] if deal else None,
                             opportunity_name=deal[1] if deal else None)  # fmt: skip
    return out


def user_names(uow: UnitOfWork, user_ids: set[str]) -> dict[str, str]:
    if not user_ids:
        return {}
    return {uid: name for uid, name in uow.session.execute(select(User.id, User.name).where(User.id.in_(user_ids)))}


def last_rules(uow: UnitOfWork, draft_ids: set[str]) -> dict[str, str]:
    """The rule that refused each draft's newest blocked attempt (a draft never tried is not in the answer)."""
    if not draft_ids:
        return {}
    rows = uow.session.execute(
        select(Message.draft_id, Message.rule).where(Message.draft_id.in_(draft_ids), Message.status == "blocked")
        .order_by(Message.created_at)
    ).all()  # fmt: skip
    return {draft_id: rule for draft_id, rule in rows if draft_id and rule}


def _lock_draft(uow: UnitOfWork, draft_id: str) -> Message:
    msg = lock_message(uow, draft_id, "draft_id")
    check_draft(msg)
    return msg


def edit(uow: UnitOfWork, draft_id: str, *, subject: str | None, body: str | None) -> tuple[Message, dict[str, Any]]:
    """Change a draft's subject and/or body; returns it and what it was before (for the audit row)."""
    msg = _lock_draft(uow, draft_id)
    before = {"subject": msg.subject, "body": msg.body[:200]}
    if subject is not None:
        msg.subject = subject
    if body is not None:
        msg.body = body
    uow.session.flush()
    return msg, before


def discard(uow: UnitOfWork, draft_id: str) -> Message:
    """A discarded draft is kept in its thread as failed (rule `discarded`), like a discarded held message: the
    thread still shows what was proposed and who turned it down; it can never be sent."""
    msg = _lock_draft(uow, draft_id)
    msg.status, msg.rule = "failed", "discarded"
    who = user_names(uow, {uow.actor.user_id}).get(uow.actor.user_id or "") if uow.actor.user_id else None
    msg.status_reason = f"draft discarded by {who or uow.actor.channel}"[:300]
    uow.session.flush()
    return msg


def retry(uow: UnitOfWork, message_id: str) -> tuple[Message, gate.Decision]:
    """Run the gate again for a refused message. Allowed: the message (or, for an attempt of a draft, the draft)
    becomes queued and `message_queued` is emitted. Refused: it stays blocked with this time's rule."""
    msg = lock_message(uow, message_id)
    if msg.status != "blocked":
        raise InvalidArguments(f"message {msg.id} is {msg.status}: only a blocked message is retried",
                               field="message_id")  # fmt: skip
    target = msg
    if msg.draft_id:
        target = lock_message(uow, msg.draft_id, "message_id")
        if target.status != "draft":
            raise InvalidArguments(f"the draft {target.id} this attempt belongs to is {target.status} now; nothing "
                                   "is left to retry", field="message_id")  # fmt: skip
    conv = get_or_404(uow, Conversation, target.conversation_id, "conversation")
    contact = get_or_404(uow, Contact, conv.contact_id, "contact")
    tenant = uow.session.get(Tenant, uow.tenant_id)
    assert tenant is not None
    now = uow.now()
    decision = gate.check(uow, tenant, contact, target.channel, now)
    if not decision.allowed:
        msg.rule = decision.rule
        msg.status_reason = f"blocked: {decision.rule}. {decision.reason}"[:300]
        uow.session.flush()
        return msg, decision
    target.status, target.status_reason, target.rule = "queued", None, None
    target.sent_by, target.queued_at = uow.actor.user_id, now
    target.lease_owner, target.leased_until = None, None
    uow.emit("message_queued", subject=("message", target.id), channel=target.channel)
    conv.last_message_at, conv.status = now, "open"
    contact_service.touch(uow, contact.id, now)
    uow.session.flush()
    return target, decision


def _said() -> Any:
    """Messages that belong in a thread's preview: not a draft waiting for review, nor one a person discarded."""
    return and_(Message.status != "draft", or_(Message.rule.is_(None), Message.rule != "discarded"))


@dataclass(frozen=True)
class Preview:
    last_message: str | None
    last_direction: str | None
    drafts: int
    blocked: int


def previews(uow: UnitOfWork, conversation_ids: set[str]) -> dict[str, Preview]:
    """Per thread: its newest message's opening words, and how many drafts and refused messages it holds."""
    if not conversation_ids:
        return {}
    newest = (
        select(Message.conversation_id, func.max(Message.created_at).label("at"))
        .where(Message.conversation_id.in_(conversation_ids), _said())
        .group_by(Message.conversation_id)
        .subquery()
    )
    last: dict[str, tuple[str, str]] = {}
    rows = uow.session.execute(
        select(Message.conversation_id, Message.body, Message.subject, Message.direction, Message.channel,
               Message.outcome)
        .join(newest, and_(Message.conversation_id == newest.c.conversation_id, Message.created_at == newest.c.at))
        .where(_said())
    ).all()  # fmt: skip
    for conv_id, body, subject, direction, channel, outcome in rows:
        text = body or (subject or "")
        if channel == "call":
            text = f"Call{': ' + outcome.replace('_', ' ') if outcome else ''}{' · ' + body if body else ''}"
        last[conv_id] = (" ".join(text.split())[:PREVIEW_CHARS], direction)
    marks: dict[tuple[str, str], int] = {}
    for conv_id, status, n in uow.session.execute(
        select(Message.conversation_id, Message.status, func.count())
        .where(Message.conversation_id.in_(conversation_ids), Message.status.in_(("draft", "blocked")),
               _draft_or_attempt_filter())
        .group_by(Message.conversation_id, Message.status)
    ).all():  # fmt: skip
        marks[(conv_id, status)] = int(n)
    return {
        c: Preview(last_message=last[c][0] if c in last else None, last_direction=last[c][1] if c in last else None,
                   drafts=marks.get((c, "draft"), 0), blocked=marks.get((c, "blocked"), 0))
        for c in conversation_ids
    }  # fmt: skip


def opportunity_contact(uow: UnitOfWork, opportunity_id: str) -> str | None:
    """A deal's drafts are its contact's: the contact id, or None for a deal without one."""
    deal = get_or_404(uow, Opportunity, opportunity_id, "opportunity")
    return deal.contact_id
