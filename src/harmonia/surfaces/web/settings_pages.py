"""Settings: Comms → Outbound (the switch and held messages), users and invitations, access tokens, "Connect an AI
client", and the audit log."""

from __future__ import annotations

import json
import shutil
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from starlette.responses import Response
from starlette.routing import Route

from ...errors import HarmoniaError, InvalidArguments
from ...models import SCOPES
from ...services.people import invitation_link_token
from .kit import Ui, url_with, view
from .wording import for_people

__all__ = ["ROUTES"]


@view
def settings_home(ui: Ui) -> Response:
    return ui.redirect("/settings/comms")


# -- Comms → Outbound -----------------------------------------------------------------------------------------------
def _comms_context(ui: Ui) -> dict[str, Any]:
    settings = ui.call("settings_get") if ui.can("settings_get") else None
    held = ui.call("messages_list", status="held", limit=100)["items"]
    blocked = ui.call("messages_list", status="blocked", limit=10)["items"]
    return {
        "settings": settings,
        "held": held,
        "blocked": blocked,
        "is_owner": bool(ui.person and ui.person.role == "owner"),
    }


@view
def comms(ui: Ui) -> Response:
    return ui.render("settings_comms.html", section="comms", **_comms_context(ui))


@view
def outbound_switch(ui: Ui) -> Response:
    enabled = ui.field("enabled") == "on"
    try:
        if enabled and ui.field("confirm") != "yes":
            no_reason = len(ui.field("reason")) < 3
            raise InvalidArguments("to turn outbound on, tick the box to confirm that messages will reach real people"
                                   + (", and give a reason (at least 3 characters)" if no_reason else ""),
                                   fields=["confirm", "reason"] if no_reason else ["confirm"])  # fmt: skip
        ui.call("outbound_set", enabled=enabled, reason=ui.field("reason"))
    except HarmoniaError as error:
        return ui.failed("settings_comms.html", error, section="comms", **_comms_context(ui))
    state = "on: messages are delivered" if enabled else "off: nothing is delivered, every send is kept"
    return ui.redirect("/settings/comms", flash=f"Outbound is {state}.")


@view
def held_message(ui: Ui) -> Response:
    action = ui.field("action")
    try:
        ui.call("messages_release", message_id=ui.path("message_id"), action=action)
    except HarmoniaError as error:
        return ui.redirect("/settings/comms", flash=f"Nothing changed: {for_people(error)}", kind="error")
    done = "Released: the gate checks it again now" if action == "release" else "Discarded"
    return ui.redirect("/settings/comms", flash=f"{done}.")


# -- users and invitations ------------------------------------------------------------------------------------------
def _base_url(ui: Ui) -> str:
    # Without HARMONIA_PUBLIC_URL the public URL is only a guess; the address the browser used is the better one then.
    if ui.settings.public_url_is_guess:
        return str(ui.request.base_url).rstrip("/")
    return ui.settings.public_url.rstrip("/")


def _invite_link(ui: Ui, user_id: str) -> str:
    assert ui.person is not None
    token = invitation_link_token(ui.request.app.state.web_secret, ui.person.tenant_id, user_id)
    return f"{_base_url(ui)}/invite/{token}"


def _users_context(ui: Ui) -> dict[str, Any]:
    if not ui.can("users_list"):
        return {"users": None}
    users = ui.call("users_list", limit=100)["items"]
    for user in users:
        if user["status"] == "invited":
            user["invite_link"] = _invite_link(ui, user["id"])
    return {"users": users}


@view
def users(ui: Ui) -> Response:
    return ui.render("settings_users.html", section="users", **_users_context(ui))


@view
def users_invite(ui: Ui) -> Response:
    try:
        user = ui.call(
            "users_invite", email=ui.field("email"), name=ui.field("name"), role=ui.field("role") or "member"
        )
    except HarmoniaError as error:
        return ui.failed("settings_users.html", error, section="users", form="invite", **_users_context(ui))
    return ui.redirect("/settings/users", flash=f"Invited {user['email']}. Send them the invitation link below; "
                       "it works for 7 days.")  # fmt: skip


@view
def users_update(ui: Ui) -> Response:
    changes = {"role": ui.field("role") or None, "status": ui.field("status") or None}
    try:
        user = ui.call("users_update", user_id=ui.path("user_id"), **changes)
    except HarmoniaError as error:
        return ui.redirect("/settings/users", flash=f"Nothing changed: {for_people(error)}", kind="error")
    return ui.redirect("/settings/users", flash=f"{user['name']} is now {user['role']}, {user['status']}.")


# -- access tokens and connecting an AI client ------------------------------------------------------------------------
def _client_configs(ui: Ui, secret: str | None) -> dict[str, str]:
    token = secret or "<paste your access token here>"
    base = _base_url(ui)
    harmonia = shutil.which("harmonia") or str(Path(sys.executable).with_name("harmonia"))
    database = ui.settings.database_url
    if database.startswith("sqlite:///") and not database.startswith("sqlite:////"):
        database = "sqlite:///" + str(Path(database.split("///", 1)[1]).resolve())
    claude = {
        "mcpServers": {
            "harmonia": {
                "command": harmonia,
                "args": ["mcp"],
                "env": {"HARMONIA_TOKEN": token, "HARMONIA_DATABASE_URL": database},
            }
        }
    }
    # Another machine cannot reach this one at a loopback address: name the part the person fills in instead.
    host = urlsplit(base).hostname or ""
    loopback = host in ("127.0.0.1", "localhost", "::1")
    remote = base.replace(urlsplit(base).netloc, f"YOUR-SERVER:{urlsplit(base).port or 80}") if loopback else base
    claude_remote = {
        "mcpServers": {
            "harmonia": {
                "command": "npx",
                "args": ["-y", "mcp-remote", f"{remote}/mcp", "--header", f"Authorization: Bearer {token}"],
            }
        }
    }
    cursor = {"mcpServers": {"harmonia": {"url": f"{base}/mcp", "headers": {"Authorization": f"Bearer {token}"}}}}
    return {
        "claude": json.dumps(claude, indent=2),
        "claude_remote": json.dumps(claude_remote, indent=2),
        "cursor": json.dumps(cursor, indent=2),
        "claude_code": f'claude mcp add --transport http harmonia {base}/mcp --header "Authorization: Bearer {token}"',
        "mcp_url": f"{base}/mcp",
        "remote_hint": "Replace YOUR-SERVER with the name or address other machines reach this one by, and start "
        "the server with HARMONIA_HOST=0.0.0.0 and HARMONIA_PUBLIC_URL set to that address (see the README)."
        if loopback
        else "",
    }  # fmt: skip


def _tokens_context(ui: Ui) -> dict[str, Any]:
    assert ui.actor is not None
    listed = ui.call("tokens_list", limit=100)["items"]
    return {"tokens": listed, "my_scopes": [s for s in SCOPES if s in ui.actor.scopes], "all_scopes": SCOPES}


@view
def tokens(ui: Ui) -> Response:
    return ui.render("settings_tokens.html", section="tokens", **_tokens_context(ui))


@view
def tokens_create(ui: Ui) -> Response:
    scopes = ui.form_lists.get("scopes", [])
    try:
        issued = ui.call("tokens_create", name=ui.field("name"), scopes=scopes)
    except HarmoniaError as error:
        return ui.failed("settings_tokens.html", error, section="tokens", **_tokens_context(ui))
    # The secret is shown in this response only: no redirect, nothing kept in the session.
    return ui.render("connect.html", section="connect", issued=issued, configs=_client_configs(ui, issued["secret"]))


@view
def tokens_revoke(ui: Ui) -> Response:
    try:
        token = ui.call("tokens_revoke", token_id=ui.path("token_id"))
    except HarmoniaError as error:
        return ui.redirect("/settings/tokens", flash=f"Nothing changed: {for_people(error)}", kind="error")
    return ui.redirect("/settings/tokens", flash=f"Revoked {token['name']}; calls with it are refused from now on.")


@view
def connect(ui: Ui) -> Response:
    return ui.render("connect.html", section="connect", issued=None, configs=_client_configs(ui, None))


# -- audit log ------------------------------------------------------------------------------------------------------
_AUDIT_FILTERS = ("action", "channel", "outcome", "actor_user_id", "target_id", "from", "to", "reads")


def _day_bounds(ui: Ui, filters: dict[str, str]) -> dict[str, str | None]:
    """The form's From/To days are the person's calendar days; the operation wants instants."""
    tz = ZoneInfo(ui.person.timezone if ui.person else "UTC")
    bounds: dict[str, str | None] = {"since": None, "until": None}
    for name, arg, shift in (("from", "since", 0), ("to", "until", 1)):
        if text := filters.get(name):
            try:
                day = date.fromisoformat(text)
            except ValueError:
                raise InvalidArguments(f"'{name}' is not a date; pick one from the calendar", field=name) from None
            bounds[arg] = datetime.combine(day + timedelta(days=shift), time.min, tz).isoformat()
    return bounds


@view
def audit(ui: Ui) -> Response:
    filters = {f: ui.query(f) for f in _AUDIT_FILTERS}
    actions = sorted(op.name for op in ui.h.registry)
    if not ui.can("audit_list"):
        return ui.render("audit.html", section="audit", events=None, filters=filters, next_cursor=None, names={},
                         actions=actions)  # fmt: skip
    names = {u["id"]: u["name"] for u in ui.call("users_list", limit=100)["items"]}
    arguments: dict[str, str | bool] = {f: v for f, v in filters.items() if f not in ("from", "to", "reads")}
    # Changes first: successful reads (every page view writes some) only when asked for, so they bury nothing.
    arguments["reads"] = filters["reads"] == "1"
    try:
        page = ui.call("audit_list", **arguments, **_day_bounds(ui, filters), cursor=ui.query("cursor") or None,
                       limit=50)  # fmt: skip
    except HarmoniaError as error:
        return ui.render("audit.html", section="audit", events=[], filters=filters, next_cursor=None, names=names,
                         actions=actions, error=_audit_error(error), error_fields=_bad_filters(error),
                         status=error.http_status)  # fmt: skip
    next_url = url_with("/audit", **filters, cursor=page.get("next_cursor")) if page.get("next_cursor") else None
    return ui.render("audit.html", section="audit", events=page["items"], filters=filters, next_url=next_url,
                     names=names, actions=actions, cursor=ui.query("cursor"),
                     first_url=url_with("/audit", **filters))  # fmt: skip


_FILTER_LABELS = {"target_id": "Record id", "actor_user_id": "Person", "since": "From", "until": "To",
                  "from": "From", "to": "To", "action": "Action", "cursor": "page link"}  # fmt: skip


def _bad_filters(error: HarmoniaError) -> list[str]:
    fields = error.details.get("fields") or ([error.details["field"]] if "field" in error.details else [])
    return [{"since": "from", "until": "to"}.get(str(f), str(f)) for f in fields]


def _audit_error(error: HarmoniaError) -> str:
    """The filter a person got wrong, in the words of the form (the operation's message names its arguments)."""
    bad = [_FILTER_LABELS.get(f, f) for f in _bad_filters(error)]
    if bad == ["Record id"]:
        return (
            "That record id is not one Harmonia makes (ids look like ct_01JD8X2M5Q7R9T1V3W5Y): correct it or clear it."
        )
    if bad:
        return f"Check the {' and '.join(bad)} filter: {for_people(error)}"
    return for_people(error)


ROUTES = [
    Route("/settings", settings_home),
    Route("/settings/comms", comms),
    Route("/settings/comms/outbound", outbound_switch, methods=["POST"]),
    Route("/settings/comms/held/{message_id}", held_message, methods=["POST"]),
    Route("/settings/users", users, methods=["GET"]),
    Route("/settings/users", users_invite, methods=["POST"]),
    Route("/settings/users/{user_id}", users_update, methods=["POST"]),
    Route("/settings/tokens", tokens, methods=["GET"]),
    Route("/settings/tokens", tokens_create, methods=["POST"]),
    Route("/settings/tokens/{token_id}/revoke", tokens_revoke, methods=["POST"]),
    Route("/settings/connect", connect),
    Route("/audit", audit),
]
