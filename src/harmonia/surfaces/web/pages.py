"""The working pages: pipeline board, contacts, contact and deal pages with their timeline, inbox, tasks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import Response
from starlette.routing import Route

from ...errors import HarmoniaError, InvalidArguments, OutboundBlocked
from .kit import Ui, url_with, view
from .lender_pages import lender_match
from .record_pages import CONTACT_LABELS, pick_account, record_names, unpicked
from .wording import for_people

__all__ = ["ROUTES"]

_OUTBOUND_OFF = ("Outbound is off for this workspace, so nothing was sent. Your message is kept in the thread "
                 "(marked blocked). An owner can turn outbound on in Settings → Comms → Outbound.")  # fmt: skip


@view
def home(ui: Ui) -> Response:
    return ui.redirect("/board")


BOARD_CARDS = 8  # cards a column shows at first: eight columns fit a 1440 px screen without a wall of cards
BOARD_MORE = 50  # after "show more" on that column; the whole stage is a filtered list away


# -- pipeline board -------------------------------------------------------------------------------------------------
@view
def board(ui: Ui) -> Response:
    pipelines = ui.call("pipelines_list")["items"]
    if not pipelines:
        return ui.render("board.html", pipelines=[], pipeline=None, columns=[])
    chosen = ui.query("pipeline")
    pipeline = next((p for p in pipelines if p["id"] == chosen), pipelines[0])
    expanded = ui.query("show")  # the one column whose "show more" was followed
    columns = []
    for stage in pipeline["stages"]:
        status = None if stage["kind"] == "open" else stage["kind"]
        cap = BOARD_MORE if stage["id"] == expanded else BOARD_CARDS
        deals = ui.call("opportunities_list", pipeline=pipeline["id"], stage=stage["id"], status=status, limit=cap)
        columns.append({"stage": stage, "deals": deals["items"], "more": bool(deals.get("next_cursor")),
                        "expanded": stage["id"] == expanded})  # fmt: skip
    names = record_names(ui, [i for c in columns for d in c["deals"] for i in (d.get("contact_id"), d.get("owner_id"))])
    return ui.render("board.html", pipelines=pipelines, pipeline=pipeline, columns=columns, names=names)


@view
def deal_move(ui: Ui) -> Response:
    deal_id = ui.path("deal_id")
    back = ui.back(f"/deals/{deal_id}")
    try:
        moved = ui.call("opportunities_move_stage", opportunity_id=deal_id, stage=ui.field("stage"),
                        reason=ui.field("reason") or None)  # fmt: skip
    except HarmoniaError as error:
        if not ui.field("next"):  # the deal page's own form: show it again with what was chosen and typed
            return ui.render("deal.html", status=error.http_status, error=f"Not moved: {for_people(error)}",
                             form="move", error_fields=["reason"] if "reason" in error.message else [],
                             **_deal_context(ui, deal_id))  # fmt: skip
        return ui.redirect(back, flash=f"Not moved: {for_people(error)}", kind="error")
    if not moved.get("moved"):
        return ui.redirect(back, flash=f"{moved['name']} is already in {moved.get('stage')}.")
    return ui.redirect(back, flash=f"Moved {moved['name']} from {moved.get('from_stage')} to {moved.get('stage')}.")


# -- deals ----------------------------------------------------------------------------------------------------------
def _deal_context(ui: Ui, deal_id: str) -> dict[str, Any]:
    deal = ui.call("opportunities_get", opportunity_id=deal_id)
    pipelines = ui.call("pipelines_list")["items"]
    pipeline = next((p for p in pipelines if p["id"] == deal["pipeline_id"]), None)
    contact = ui.call("contacts_get", contact_id=deal["contact_id"]) if deal.get("contact_id") else None
    timeline = ui.call("records_timeline", record_type="opportunity", record_id=deal_id)["items"]
    owner_name = record_names(ui, [deal.get("owner_id")]).get(deal.get("owner_id") or "")
    drafts = ui.call("drafts_list", opportunity_id=deal_id, limit=20)["items"]
    return {"deal": deal, "pipeline": pipeline, "contact": contact, "timeline": timeline,
            "match": lender_match(ui, deal_id), "owner_name": owner_name, "drafts": drafts}  # fmt: skip


@view
def deal_page(ui: Ui) -> Response:
    return ui.render("deal.html", **_deal_context(ui, ui.path("deal_id")))


@view
def deal_note(ui: Ui) -> Response:
    deal_id = ui.path("deal_id")
    try:
        ui.call("notes_create", record_type="opportunity", record_id=deal_id, body=ui.field("body"))
    except HarmoniaError as error:
        return ui.failed("deal.html", error, {"body": "Note"}, form="note", **_deal_context(ui, deal_id))
    return ui.redirect(f"/deals/{deal_id}", flash="Note added.")


# -- contacts -------------------------------------------------------------------------------------------------------
@view
def contacts(ui: Ui) -> Response:
    q = ui.query("q")
    cursor = ui.query("cursor") or None
    if q and len(q) >= 2:
        try:
            found = ui.call("search", q=q, types=["contact"], limit=50, cursor=cursor)
        except HarmoniaError as error:
            return ui.render("contacts.html", q=q, rows=[], hits=[], error=error.message, next_cursor=None)
        return ui.render("contacts.html", q=q, rows=[], hits=found["items"], next_cursor=found.get("next_cursor"),
                         cursor=cursor)  # fmt: skip
    listed = ui.call("contacts_list", limit=50, cursor=cursor, sort="updated_desc")
    note = "Type at least two characters to search." if q else None
    return ui.render("contacts.html", q=q, rows=listed["items"], hits=None, next_cursor=listed.get("next_cursor"),
                     note=note, cursor=cursor)  # fmt: skip


_CONTACT_FIELDS = ("first_name", "last_name", "email", "phone", "title", "timezone")


@view
def contact_new(ui: Ui) -> Response:
    picking: dict[str, Any] = {"account_id": ui.field("account_id") or ui.query("account"), "candidates": {}}
    picking["names"] = record_names(ui, [picking["account_id"]])
    if ui.request.method == "GET":
        return ui.render("contact_new.html", values={}, **picking)
    try:
        account_id = pick_account(ui, picking)
        created = ui.call("contacts_create", **{f: ui.field(f) or None for f in _CONTACT_FIELDS}, source="manual",
                          account_id=account_id)  # fmt: skip
    except HarmoniaError as error:
        return ui.failed("contact_new.html", error, CONTACT_LABELS, values=unpicked(ui, picking), **picking)
    return ui.redirect(f"/contacts/{created['id']}", flash=f"Created {created['name']}.")


def _contact_context(ui: Ui, contact_id: str) -> dict[str, Any]:
    contact = ui.call("contacts_get", contact_id=contact_id)
    timeline = ui.call("records_timeline", record_type="contact", record_id=contact_id)["items"]
    threads = ui.call("conversations_list", contact_id=contact_id, limit=10)["items"]
    account = ui.call("accounts_get", account_id=contact["account_id"]) if contact.get("account_id") else None
    stages = {s["id"]: s["name"] for p in ui.call("pipelines_list")["items"] for s in p["stages"]}
    deals = {d["id"]: d["name"] for d in ui.call("opportunities_list", contact_id=contact_id, limit=100)["items"]}
    local_time = None
    if contact.get("timezone"):
        local_time = datetime.now(ZoneInfo(contact["timezone"])).strftime("%-I:%M %p")
    return {"contact": contact, "timeline": timeline, "threads": threads, "account": account, "stages": stages,
            "deals": deals, "local_time": local_time, "send_key": uuid.uuid4().hex,
            "drafts": ui.call("drafts_list", contact_id=contact_id, limit=20)["items"]}  # fmt: skip


@view
def contact_page(ui: Ui) -> Response:
    return ui.render("contact.html", **_contact_context(ui, ui.path("contact_id")))


@view
def contact_send(ui: Ui) -> Response:
    """Compose on the contact page: email or SMS through the gate. While outbound is off the message is kept."""
    contact_id, channel = ui.path("contact_id"), ui.path("channel")
    key = ui.field("send_key") or None
    try:
        if channel == "email":
            ui.call("email_send", contact_id=contact_id, subject=ui.field("subject"), body=ui.field("body"),
                    idempotency_key=key)  # fmt: skip
        elif channel == "sms":
            ui.call("sms_send", contact_id=contact_id, body=ui.field("body"), idempotency_key=key)
        else:
            raise InvalidArguments(f"there is no {channel!r} compose form; use email or sms")
    except OutboundBlocked as error:
        message = _OUTBOUND_OFF if error.details.get("rule") == "outbound_off" else f"Not sent: {error.message}"
        return ui.render("contact.html", status=409, error=message, form=channel,
                         **{**_contact_context(ui, contact_id), "send_key": uuid.uuid4().hex})  # fmt: skip
    except HarmoniaError as error:
        labels = {"body": "Text message"} if channel == "sms" else None
        return ui.failed("contact.html", error, labels, form=channel, **_contact_context(ui, contact_id))
    return ui.redirect(f"/contacts/{contact_id}", flash=f"{'Email' if channel == 'email' else 'SMS'} sent.")


@view
def contact_note(ui: Ui) -> Response:
    contact_id = ui.path("contact_id")
    try:
        ui.call("notes_create", record_type="contact", record_id=contact_id, body=ui.field("body"))
    except HarmoniaError as error:
        return ui.failed("contact.html", error, {"body": "Note"}, form="note", **_contact_context(ui, contact_id))
    return ui.redirect(f"/contacts/{contact_id}", flash="Note added.")


def _due(ui: Ui, text: str) -> str:
    """A `datetime-local` value is the person's wall clock; the operation wants an instant."""
    if not text:
        raise InvalidArguments("Due is required: pick a date and a time", field="due_at")
    tz = ZoneInfo(ui.person.timezone if ui.person else "UTC")
    try:
        return datetime.fromisoformat(text).replace(tzinfo=tz).isoformat()
    except ValueError:
        raise InvalidArguments("Due is not a date and a time", field="due_at") from None


@view
def contact_task(ui: Ui) -> Response:
    contact_id = ui.path("contact_id")
    try:
        ui.call("tasks_create", title=ui.field("title"), due_at=_due(ui, ui.field("due_at")),
                record_type="contact", record_id=contact_id)  # fmt: skip
    except HarmoniaError as error:
        return ui.failed("contact.html", error, {"title": "Task"}, form="task", **_contact_context(ui, contact_id))
    return ui.redirect(f"/contacts/{contact_id}", flash="Task added.")


# -- inbox ----------------------------------------------------------------------------------------------------------
INBOX_PAGE = 25  # conversations a page of the inbox lists
THREAD_PAGE = 30  # messages a thread shows at once, the newest; older ones a click away


def _inbox_context(ui: Ui, conversation_id: str | None) -> dict[str, Any]:
    channel = ui.query("channel") or None
    unread = ui.query("unread") == "1"
    cursor = ui.query("cursor") or None
    threads = ui.call("conversations_list", channel=channel, unread=True if unread else None, limit=INBOX_PAGE,
                      cursor=cursor)  # fmt: skip
    thread = None
    if conversation_id:
        thread = ui.call("conversations_get", conversation_id=conversation_id, limit=THREAD_PAGE,
                         cursor=ui.query("earlier") or None)  # fmt: skip
    contact = ui.call("contacts_get", contact_id=thread["contact_id"]) if thread else None
    where = {"channel": channel, "unread": "1" if unread else None}
    ids = [t["id"] for t in threads["items"]]
    previews = ui.call("conversations_previews", conversation_ids=ids)["items"] if ids else []
    return {
        "previews": {p["conversation_id"]: p for p in previews},
        "thread_drafts": ui.call("drafts_list", conversation_id=thread["id"], limit=20)["items"] if thread else [],
        "threads": threads["items"],
        "thread": thread,
        "contact": contact,
        "channel": channel,
        "unread": unread,
        "where": where,
        "cursor": cursor,
        "older_url": url_with("/inbox", **where, cursor=threads.get("next_cursor"), conversation=conversation_id)
        if threads.get("next_cursor")
        else None,
        "newest_url": url_with("/inbox", **where, conversation=conversation_id) if cursor else None,
        "earlier_url": url_with("/inbox", **where, cursor=cursor, conversation=conversation_id,
                                earlier=thread.get("next_cursor")) if thread and thread.get("next_cursor") else None,
        "latest_url": url_with("/inbox", **where, cursor=cursor, conversation=conversation_id)
        if thread and ui.query("earlier")
        else None,
        "send_key": uuid.uuid4().hex,
    }  # fmt: skip


@view
def inbox(ui: Ui) -> Response:
    return ui.render("inbox.html", **_inbox_context(ui, ui.query("conversation") or None))


@view
def inbox_reply(ui: Ui) -> Response:
    conversation_id = ui.path("conversation_id")
    try:
        ui.call("conversations_reply", conversation_id=conversation_id, body=ui.field("body"),
                idempotency_key=ui.field("send_key") or None)  # fmt: skip
    except OutboundBlocked as error:
        message = _OUTBOUND_OFF if error.details.get("rule") == "outbound_off" else f"Not sent: {error.message}"
        return ui.render("inbox.html", status=409, error=message, **_inbox_context(ui, conversation_id))
    except HarmoniaError as error:
        return ui.failed("inbox.html", error, {"body": "Reply"}, **_inbox_context(ui, conversation_id))
    return ui.redirect(url_with("/inbox", conversation=conversation_id), flash="Reply sent.")


# -- tasks ----------------------------------------------------------------------------------------------------------
@view
def tasks(ui: Ui) -> Response:
    status = ui.query("status", "open")
    mine = ui.query("who", "mine") == "mine"
    assert ui.actor is not None
    cursor = ui.query("cursor") or None
    listed = ui.call("tasks_list", status=status if status in ("open", "done") else None,
                     assignee_id=ui.actor.user_id if mine else None, limit=50, cursor=cursor)  # fmt: skip
    where = {"who": "mine" if mine else "all", "status": status}
    next_url = url_with("/tasks", **where, cursor=listed["next_cursor"]) if listed.get("next_cursor") else None
    names = record_names(ui, [t.get("record_id") for t in listed["items"]])
    return ui.render("tasks.html", tasks=listed["items"], task_status=status, mine=mine, now=datetime.now(UTC),
                     cursor=cursor, next_url=next_url, first_url=url_with("/tasks", **where), names=names)  # fmt: skip


@view
def task_done(ui: Ui) -> Response:
    task_id = ui.path("task_id")
    reopen = ui.field("status") == "open"
    try:
        task = ui.call("tasks_update", task_id=task_id, status="open" if reopen else "done")
    except HarmoniaError as error:
        return ui.redirect(ui.back("/tasks"), flash=f"Not changed: {for_people(error)}", kind="error")
    return ui.redirect(ui.back("/tasks"), flash=f"{'Reopened' if reopen else 'Done'}: {task['title']}.")


ROUTES = [
    Route("/", home),
    Route("/board", board),
    Route("/deals/{deal_id}", deal_page),
    Route("/deals/{deal_id}/move", deal_move, methods=["POST"]),
    Route("/deals/{deal_id}/notes", deal_note, methods=["POST"]),
    Route("/contacts", contacts),
    Route("/contacts/new", contact_new, methods=["GET", "POST"]),
    Route("/contacts/{contact_id}", contact_page),
    Route("/contacts/{contact_id}/send/{channel}", contact_send, methods=["POST"]),
    Route("/contacts/{contact_id}/notes", contact_note, methods=["POST"]),
    Route("/contacts/{contact_id}/tasks", contact_task, methods=["POST"]),
    Route("/inbox", inbox),
    Route("/inbox/{conversation_id}/reply", inbox_reply, methods=["POST"]),
    Route("/tasks", tasks),
    Route("/tasks/{task_id}/status", task_done, methods=["POST"]),
]
