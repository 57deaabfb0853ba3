"""Records a person creates and edits by hand: deals, contacts (with their account and consent), accounts; and the
accounts pages. (Lenders, the lender match and the submission brief: lender_pages.py.)

Every read and write is an operation called as the signed-in person (`ui.call`); nothing here reaches a service.
A form that does not go through is shown again with what was typed and the reason in plain words, and nothing of
it is written (each form is one operation, one transaction).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import Response
from starlette.routing import Route

from ...errors import HarmoniaError, InvalidArguments
from .kit import Ui, url_with, view
from .wording import for_people

__all__ = ["CONTACT_LABELS", "ENTITY_TYPES", "ROUTES", "pick_account", "record_names", "unpicked"]

PAGE = 50  # rows a list page shows
PICK_CHOICES = 8  # candidates offered when a typed contact or account matches several

DEAL_LABELS = {"name": "Deal name", "amount": "Amount requested", "requested_amount": "Amount requested",
               "contact_id": "Contact", "account_id": "Account", "owner_id": "Owner", "stage": "Stage"}  # fmt: skip
ACCOUNT_LABELS = {"name": "Business name", "legal_name": "Legal name", "industry": "Industry", "naics": "NAICS code",
                  "state": "State", "phone": "Phone", "business_start_date": "In business since",
                  "entity_type": "Entity type", "owner_fico": "Owner's FICO"}  # fmt: skip
CONTACT_LABELS = {"account_id": "Account", "consent_source": "Source of consent",
                  "consent_given_at": "Date given"}  # fmt: skip
ENTITY_TYPES = (("llc", "LLC"), ("s_corp", "S corporation"), ("c_corp", "C corporation"),
                ("sole_prop", "Sole proprietorship"), ("partnership", "Partnership"), ("nonprofit", "Nonprofit"))  # fmt: skip
CONSENT_CHOICES = {"email": ("unknown", "subscribed", "unsubscribed", "bounced"),
                   "sms": ("unknown", "opted_in", "opted_out"), "call": ("unknown", "opted_in", "opted_out")}  # fmt: skip
CHANNEL_NAMES = {"email": "Email", "sms": "SMS", "call": "Calls"}


# -- helpers --------------------------------------------------------------------------------------------------------
def record_names(ui: Ui, ids: list[str | None]) -> dict[str, str]:
    """{id: name} for the contacts, deals, owners… a list page shows, in one call."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    names: dict[str, str] = ui.call("records_names", ids=wanted[:500])["names"]
    return names


def _dollars(text: str, field: str, label: str) -> float | None:
    """An amount typed as "$25,000" or "25000.50", in dollars; blank is None."""
    cleaned = re.sub(r"[\s$,]", "", text)
    if not cleaned:
        return None
    try:
        amount = float(cleaned)
    except ValueError:
        raise InvalidArguments(f"{label} must be an amount in dollars, like 25000", field=field) from None
    if amount < 0 or amount != amount or amount > 1e11:
        raise InvalidArguments(f"{label} must be a positive amount in dollars, like 25000", field=field)
    return amount


def _whole(text: str, field: str, label: str) -> int | None:
    if not text:
        return None
    if not text.isdigit():
        raise InvalidArguments(f"{label} must be a whole number", field=field)
    return int(text)


def _pick(ui: Ui, kind: str, chosen_id: str, typed: str, label: str) -> tuple[str | None, list[dict[str, Any]]]:
    """The contact or account a form names: the only one `typed` finds, else the one picked (`chosen_id`). Several
    matches: none yet, and the candidates to choose from (the form asks). None found: a plain error."""
    if not typed:
        return chosen_id or None, []
    if len(typed) < 2:
        raise InvalidArguments(f"{label}: type at least two letters of the name or email", field=f"{kind}_id")
    hits = ui.call("search", q=typed, types=[kind], limit=PICK_CHOICES)["items"]
    if not hits:
        raise InvalidArguments(f"no {label.lower()} matches “{typed}”; check the spelling, or leave it empty",
                               field=f"{kind}_id")  # fmt: skip
    if len(hits) == 1:
        return str(hits[0]["id"]), []
    return None, hits


def pick_account(ui: Ui, context: dict[str, Any]) -> str | None:
    """The account a contact form names; several matches put the choices in `context` and ask."""
    account_id, accounts = _pick(ui, "account", ui.field("account_id"), ui.field("account"), "Account")
    if accounts:
        context["candidates"] = {"account": accounts}
        raise InvalidArguments("several accounts match: choose one below", field="account_id")
    return account_id


def unpicked(ui: Ui, context: dict[str, Any]) -> dict[str, Any]:
    """What was typed, shown again; a name that matched several records is cleared: the choices replace it."""
    return {k: v for k, v in ui.form.items() if not context["candidates"].get(k)}


def _owners(ui: Ui, current: str | None) -> list[tuple[str, str]]:
    """Who a record can belong to: the workspace's active people when the person may list them, else themselves
    (and the current owner, kept)."""
    assert ui.person is not None and ui.actor is not None
    choices: list[tuple[str, str]] = []
    if ui.can("users_list"):
        choices = [(u["id"], u["name"]) for u in ui.call("users_list", status="active", limit=100)["items"]]
    if ui.actor.user_id and all(uid != ui.actor.user_id for uid, _ in choices):
        choices.insert(0, (ui.actor.user_id, ui.person.name))
    if current and all(uid != current for uid, _ in choices):
        choices.append((current, record_names(ui, [current]).get(current, "the current owner")))
    return choices


def _day_to_instant(ui: Ui, text: str) -> str | None:
    """A date field (the person's calendar day) as an instant of it: noon in their time zone, so the day stays the
    same wherever it is shown (midnight in Tokyo is the day before in UTC)."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidArguments("Date given must be a date, like 2026-12-01", field="consent_given_at") from None
    tz = ZoneInfo(ui.person.timezone if ui.person and ui.person.timezone else "UTC")
    if day > datetime.now(tz).date():
        raise InvalidArguments("Date given cannot be in the future: use the day the contact gave it",
                               field="consent_given_at")  # fmt: skip
    return datetime.combine(day, time(12, 0), tzinfo=tz).isoformat()


# -- deals: create and edit -----------------------------------------------------------------------------------------
def _deal_form_context(ui: Ui, deal: dict[str, Any] | None) -> dict[str, Any]:
    pipelines = ui.call("pipelines_list")["items"]
    contact_id = ui.field("contact_id") or ui.query("contact") or (deal or {}).get("contact_id") or ""
    account_id = ui.field("account_id") or ui.query("account") or (deal or {}).get("account_id") or ""
    if contact_id and not account_id and ui.request.method == "GET":
        account_id = ui.call("contacts_get", contact_id=contact_id).get("account_id", "")
    names = record_names(ui, [contact_id, account_id])
    return {"deal": deal, "pipelines": pipelines, "contact_id": contact_id, "account_id": account_id,
            "names": names, "owners": _owners(ui, (deal or {}).get("owner_id")), "candidates": {}}  # fmt: skip


def _deal_values(ui: Ui, context: dict[str, Any]) -> dict[str, Any]:
    """The operation's arguments from the form; may ask to choose among matching contacts or accounts."""
    amount = _dollars(ui.field("amount"), "amount", "Amount requested")
    contact_id, contacts = _pick(ui, "contact", ui.field("contact_id"), ui.field("contact"), "Contact")
    account_id, accounts = _pick(ui, "account", ui.field("account_id"), ui.field("account"), "Account")
    if contacts or accounts:
        context["candidates"] = {"contact": contacts, "account": accounts}
        which = " and ".join(k for k, v in (("contact", contacts), ("account", accounts)) if v)
        raise InvalidArguments(f"several records match: choose the {which} below", field=f"{which.split()[0]}_id")
    return {"name": ui.field("name"), "amount": amount, "requested_amount": amount, "contact_id": contact_id,
            "account_id": account_id, "owner_id": ui.field("owner_id") or None}  # fmt: skip


@view
def deal_new(ui: Ui) -> Response:
    context = _deal_form_context(ui, None)
    if ui.request.method == "GET":
        values = {"owner_id": ui.actor.user_id if ui.actor else ""}
        return ui.render("deal_form.html", values=values, **context)
    try:
        values = _deal_values(ui, context)
        created = ui.call("opportunities_create", **values, pipeline=ui.field("pipeline") or None,
                          stage=ui.field("stage") or None)  # fmt: skip
    except HarmoniaError as error:
        return ui.failed("deal_form.html", error, DEAL_LABELS, values=unpicked(ui, context), **context)
    return ui.redirect(f"/deals/{created['id']}", flash=f"Created {created['name']}.")


@view
def deal_edit(ui: Ui) -> Response:
    deal_id = ui.path("deal_id")
    deal = ui.call("opportunities_get", opportunity_id=deal_id)
    context = _deal_form_context(ui, deal)
    if ui.request.method == "GET":
        mca = deal.get("mca") or {}
        amount = mca.get("requested_amount", deal.get("amount"))
        values = {"name": deal["name"], "amount": f"{amount:.0f}" if amount is not None else "",
                  "owner_id": deal.get("owner_id", "")}  # fmt: skip
        return ui.render("deal_form.html", values=values, **context)
    try:
        values = _deal_values(ui, context)
        ui.call("opportunities_update", opportunity_id=deal_id, **values)
    except HarmoniaError as error:
        return ui.failed("deal_form.html", error, DEAL_LABELS, values=unpicked(ui, context), **context)
    return ui.redirect(f"/deals/{deal_id}", flash=f"Saved {ui.field('name') or deal['name']}.")


# -- contacts: edit, with the account and consent -------------------------------------------------------------------
_CONTACT_FIELDS = ("first_name", "last_name", "email", "phone", "title", "timezone")


def _contact_form_context(ui: Ui, contact: dict[str, Any]) -> dict[str, Any]:
    account_id = ui.field("account_id") or contact.get("account_id") or ""
    return {"contact": contact, "account_id": account_id, "names": record_names(ui, [account_id]),
            "candidates": {}, "consent_choices": CONSENT_CHOICES, "channel_names": CHANNEL_NAMES,
            "today": date.today().isoformat()}  # fmt: skip


@view
def contact_edit(ui: Ui) -> Response:
    contact_id = ui.path("contact_id")
    contact = ui.call("contacts_get", contact_id=contact_id)
    context = _contact_form_context(ui, contact)
    if ui.request.method == "GET":
        values = {f: contact.get(f, "") for f in _CONTACT_FIELDS}
        values |= {f"{ch}_consent": v for ch, v in (contact.get("consent") or {}).items()}
        return ui.render("contact_edit.html", values=values, **context)
    try:
        account_id = pick_account(ui, context)
        consent = {f"{ch}_consent": ui.field(f"{ch}_consent") or None for ch in CONSENT_CHOICES}
        ui.call("contacts_update", contact_id=contact_id, **{f: ui.field(f) or None for f in _CONTACT_FIELDS},
                account_id=account_id, **consent, consent_source=ui.field("consent_source") or None,
                consent_given_at=_day_to_instant(ui, ui.field("consent_given_at")))  # fmt: skip
    except HarmoniaError as error:
        if error.details.get("field") == "consent_source":
            error = InvalidArguments("Source of consent is required to record an opt-in: say where the contact gave "
                                     "it (for example “signed application form”), and the date if it was not today",
                                     field="consent_source")  # fmt: skip
        return ui.failed("contact_edit.html", error, CONTACT_LABELS, values=unpicked(ui, context), **context)
    return ui.redirect(f"/contacts/{contact_id}", flash=f"Saved {contact['name']}.")


# -- accounts -------------------------------------------------------------------------------------------------------
@view
def accounts(ui: Ui) -> Response:
    q, cursor = ui.query("q"), ui.query("cursor") or None
    if q and len(q) >= 2:
        try:
            found = ui.call("search", q=q, types=["account"], limit=PAGE, cursor=cursor)
        except HarmoniaError as error:
            return ui.render("accounts.html", q=q, rows=None, hits=[], error=for_people(error), next_url=None)
        next_url = url_with("/accounts", q=q, cursor=found["next_cursor"]) if found.get("next_cursor") else None
        return ui.render("accounts.html", q=q, rows=None, hits=found["items"], next_url=next_url, cursor=cursor)
    listed = ui.call("accounts_list", limit=PAGE, cursor=cursor)
    next_url = url_with("/accounts", cursor=listed["next_cursor"]) if listed.get("next_cursor") else None
    note = "Type at least two characters to search." if q else None
    return ui.render("accounts.html", q=q, rows=listed["items"], hits=None, next_url=next_url, cursor=cursor,
                     note=note, names=record_names(ui, [a.get("owner_id") for a in listed["items"]]))  # fmt: skip


def _account_values(ui: Ui) -> dict[str, Any]:
    values: dict[str, Any] = {f: ui.field(f) or None for f in ("name", "legal_name", "industry", "naics", "phone",
                                                                "business_start_date", "entity_type")}  # fmt: skip
    values["state"] = ui.field("state").upper() or None
    values["owner_fico"] = _whole(ui.field("owner_fico"), "owner_fico", "Owner's FICO")
    return values


@view
def account_new(ui: Ui) -> Response:
    context: dict[str, Any] = {"account": None, "entity_types": ENTITY_TYPES}
    if ui.request.method == "GET":
        return ui.render("account_form.html", values={}, **context)
    try:
        values = _account_values(ui)
        if not values["name"]:
            raise InvalidArguments("Business name is required", field="name")
        created = ui.call("accounts_upsert", **values)
    except HarmoniaError as error:
        return ui.failed("account_form.html", error, ACCOUNT_LABELS, **context)
    return ui.redirect(f"/accounts/{created['id']}", flash=f"Created {created['name']}.")


@view
def account_edit(ui: Ui) -> Response:
    account_id = ui.path("account_id")
    account = ui.call("accounts_get", account_id=account_id)
    context = {"account": account, "entity_types": ENTITY_TYPES}
    if ui.request.method == "GET":
        values = {k: str(v) for k, v in account.items() if k in ACCOUNT_LABELS}
        return ui.render("account_form.html", values=values, **context)
    try:
        saved = ui.call("accounts_upsert", account_id=account_id, **_account_values(ui))
    except HarmoniaError as error:
        return ui.failed("account_form.html", error, ACCOUNT_LABELS, **context)
    return ui.redirect(f"/accounts/{account_id}", flash=f"Saved {saved['name']}.")


@view
def account_page(ui: Ui) -> Response:
    account = ui.call("accounts_get", account_id=ui.path("account_id"))
    stages = {s["id"]: s["name"] for p in ui.call("pipelines_list")["items"] for s in p["stages"]}
    names = record_names(ui, [account.get("owner_id")])
    return ui.render("account.html", account=account, stages=stages, names=names, entities=dict(ENTITY_TYPES))


ROUTES = [
    Route("/deals/new", deal_new, methods=["GET", "POST"]),
    Route("/deals/{deal_id}/edit", deal_edit, methods=["GET", "POST"]),
    Route("/contacts/{contact_id}/edit", contact_edit, methods=["GET", "POST"]),
    Route("/accounts", accounts),
    Route("/accounts/new", account_new, methods=["GET", "POST"]),
    Route("/accounts/{account_id}", account_page),
    Route("/accounts/{account_id}/edit", account_edit, methods=["GET", "POST"]),
]
