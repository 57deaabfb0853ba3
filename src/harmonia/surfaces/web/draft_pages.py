"""Drafts to review and messages the gate refused: list, edit, send, discard, send a reviewed selection, retry.

Every action is an operation through `ui.call` (the one gate): sending is `email_send` with `draft_id`, so while
outbound is off the gate keeps the draft a draft and the page says so. Discarding and sending a selection ask on a
page of their own first (no script needed, keyboard friendly): the person sees exactly what will happen.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from ...errors import HarmoniaError, InvalidArguments, OutboundBlocked
from .kit import Ui, url_with, view
from .wording import for_people

__all__ = ["ROUTES"]

PAGE = 50  # drafts a page lists
MAX_SELECTION = 50  # drafts one "send selected" sends: each goes through the gate on its own

KEPT_WHILE_OFF = ("Outbound is off for this workspace, so nothing was sent: the draft is still a draft, nothing is "
                  "lost. An owner can turn outbound on in Settings → Comms → Outbound.")  # fmt: skip


def _not_sent(error: OutboundBlocked) -> str:
    if error.details.get("rule") == "outbound_off":
        return KEPT_WHILE_OFF
    return f"Not sent: {for_people(error)}"


@view
def drafts(ui: Ui) -> Response:
    cursor = ui.query("cursor") or None
    listed = ui.call("drafts_list", limit=PAGE, cursor=cursor)
    blocked = ui.call("blocked_list", limit=PAGE)
    next_url = url_with("/drafts", cursor=listed["next_cursor"]) if listed.get("next_cursor") else None
    return ui.render("drafts.html", drafts=listed["items"], blocked=blocked["items"],
                     more_blocked=bool(blocked.get("next_cursor")), cursor=cursor, next_url=next_url,
                     can_send=ui.can("email_send"), can_retry=ui.can("messages_retry"))  # fmt: skip


def _draft(ui: Ui, draft_id: str) -> dict[str, Any] | None:
    """The draft as the review list shows it, or None when it is no longer a draft (sent or discarded since)."""
    items = ui.call("drafts_list", draft_id=draft_id, limit=1)["items"]
    return items[0] if items else None


def _gone(ui: Ui) -> Response:
    return ui.redirect(ui.back("/drafts"), flash="That draft is no longer a draft: it was sent or discarded "
                       "meanwhile. Nothing else was changed.", kind="error")  # fmt: skip


@view
def draft_edit(ui: Ui) -> Response:
    draft_id = ui.path("draft_id")
    draft = _draft(ui, draft_id)
    if draft is None:
        return _gone(ui)
    if ui.request.method == "GET":
        return ui.render("draft_edit.html", draft=draft, values={"subject": draft.get("subject", ""),
                                                                  "body": draft["body"]}, back=ui.back("/drafts"))  # fmt: skip
    try:
        ui.call("drafts_update", draft_id=draft_id, subject=ui.field("subject"), body=ui.field("body"))
    except HarmoniaError as error:
        return ui.failed("draft_edit.html", error, {"body": "Message"}, draft=draft, back=ui.back("/drafts"))
    if ui.field("then") == "send":
        return _send_one(ui, draft_id, draft)
    return ui.redirect(ui.back("/drafts"), flash=f"Draft to {draft.get('contact_name') or 'the contact'} saved.")


def _send_one(ui: Ui, draft_id: str, draft: dict[str, Any] | None = None) -> Response:
    who = (draft or _draft(ui, draft_id) or {}).get("contact_name") or "the contact"
    try:
        ui.call("email_send", draft_id=draft_id)
    except OutboundBlocked as error:
        return ui.redirect(ui.back("/drafts"), flash=_not_sent(error), kind="error")
    except HarmoniaError as error:
        return ui.redirect(ui.back("/drafts"), flash=f"Not sent: {for_people(error)}", kind="error")
    return ui.redirect(ui.back("/drafts"), flash=f"Email to {who} sent.")


@view
def draft_send(ui: Ui) -> Response:
    draft_id = ui.path("draft_id")
    return _send_one(ui, draft_id)


@view
def draft_discard(ui: Ui) -> Response:
    draft_id = ui.path("draft_id")
    draft = _draft(ui, draft_id)
    if draft is None:
        return _gone(ui)
    if ui.field("confirm") != "yes":
        return ui.render("draft_confirm.html", action="discard", drafts=[draft], back=ui.back("/drafts"))
    try:
        ui.call("drafts_discard", draft_id=draft_id)
    except HarmoniaError as error:
        return ui.redirect(ui.back("/drafts"), flash=f"Not discarded: {for_people(error)}", kind="error")
    return ui.redirect(ui.back("/drafts"), flash=f"Draft to {draft.get('contact_name') or 'the contact'} discarded.")


@view
def drafts_send_selected(ui: Ui) -> Response:
    chosen = list(dict.fromkeys(ui.form_lists.get("draft", [])))
    if not chosen:
        return ui.redirect("/drafts", flash="Tick the drafts to send first.", kind="error")
    if len(chosen) > MAX_SELECTION:
        return ui.redirect("/drafts", flash=f"Send at most {MAX_SELECTION} drafts at once.", kind="error")
    waiting = {d["id"]: d for d in ui.call("drafts_list", limit=100)["items"]}
    for older in (i for i in chosen if i not in waiting):  # ticked on a later page of a long list
        try:
            if found := _draft(ui, older):
                waiting[older] = found
        except InvalidArguments:  # not an id at all (a hand-made form): counted below as no longer a draft
            continue
    selected = [waiting[i] for i in chosen if i in waiting]
    if not selected:
        return _gone(ui)
    if ui.field("confirm") != "yes":
        return ui.render("draft_confirm.html", action="send", drafts=selected, back="/drafts",
                         gone=len(chosen) - len(selected))  # fmt: skip
    sent: list[dict[str, Any]] = []
    kept: list[tuple[dict[str, Any], OutboundBlocked]] = []
    failed: list[tuple[dict[str, Any], HarmoniaError]] = []
    for d in selected:  # one at a time through the gate: each send is its own decision and audit row
        try:
            ui.call("email_send", draft_id=d["id"])
            sent.append(d)
        except OutboundBlocked as refused:
            kept.append((d, refused))
        except HarmoniaError as error:
            failed.append((d, error))
    if sent:
        ui.flash(f"Sent {len(sent)} email{'s' if len(sent) != 1 else ''}: "
                 f"{', '.join(d.get('contact_name') or '?' for d in sent)}.")  # fmt: skip
    if kept:
        off = [d for d, e in kept if e.details.get("rule") == "outbound_off"]
        if off:
            ui.flash(f"{len(off)} not sent — {KEPT_WHILE_OFF}", "error")
        for d, e in kept:
            if e.details.get("rule") != "outbound_off":
                ui.flash(f"Not sent to {d.get('contact_name')}: {for_people(e)}", "error")
    for d, problem in failed:
        ui.flash(f"Not sent to {d.get('contact_name')}: {for_people(problem)}", "error")
    return ui.redirect("/drafts")


@view
def message_retry(ui: Ui) -> Response:
    try:
        ui.call("messages_retry", message_id=ui.path("message_id"))
    except OutboundBlocked as error:
        return ui.redirect(ui.back("/drafts"), flash=f"Still not sent: {for_people(error)}", kind="error")
    except HarmoniaError as error:
        return ui.redirect(ui.back("/drafts"), flash=f"Not retried: {for_people(error)}", kind="error")
    return ui.redirect(ui.back("/drafts"), flash="Sent: the gate let it through this time.")


ROUTES = [
    Route("/drafts", drafts),
    Route("/drafts/send", drafts_send_selected, methods=["POST"]),
    Route("/drafts/{draft_id}", draft_edit, methods=["GET", "POST"]),
    Route("/drafts/{draft_id}/send", draft_send, methods=["POST"]),
    Route("/drafts/{draft_id}/discard", draft_discard, methods=["POST"]),
    Route("/messages/{message_id}/retry", message_retry, methods=["POST"]),
]
