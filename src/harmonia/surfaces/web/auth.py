"""Signing in and out, and accepting an invitation."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from ...errors import HarmoniaError
from ...services.people import (
    MIN_PASSWORD,
    Person,
    accept_invitation,
    read_invitation,
    sign_in,
    sign_out,
)
from .kit import Ui, view
from .wording import for_people

__all__ = ["ROUTES"]


def _start_session(ui: Ui, person: Person) -> None:
    ui.session.clear()  # a fresh session id for a fresh sign-in: no fixation
    ui.session["person"] = {"t": person.tenant_id, "u": person.user_id, "s": person.session_id}
    ui.session["csrf"] = secrets.token_urlsafe(24)


@view(public=True)
def signin(ui: Ui) -> Response:
    if ui.request.method == "GET":
        if isinstance(ui.session.get("person"), dict):
            return ui.redirect(ui.back("/board"))
        values = {"workspace": ui.query("workspace") or ui.session.get("last_workspace", ""), "next": ui.query("next")}
        return ui.render("signin.html", values=values)
    values = {"workspace": ui.field("workspace"), "email": ui.field("email"), "next": ui.field("next")}
    try:
        person = sign_in(ui.db, ui.field("workspace"), ui.field("email"), str(ui.form.get("password", "")))
    except HarmoniaError as error:
        return ui.render("signin.html", status=error.http_status, error=for_people(error), values=values)
    _start_session(ui, person)
    ui.session["last_workspace"] = person.tenant_slug
    return ui.redirect(ui.back("/board"), flash=f"Signed in to {person.tenant_name} as {person.name}.")


@view(public=True)
def signout(ui: Ui) -> Response:
    workspace = ui.session.get("last_workspace", "")
    stored = ui.session.get("person")
    if isinstance(stored, dict) and isinstance(stored.get("s"), str):
        sign_out(ui.db, str(stored["t"]), str(stored["u"]), stored["s"])  # a copied cookie stops working too
    ui.session.clear()
    ui.session["last_workspace"] = workspace
    return ui.redirect("/signin", flash="Signed out.")


@view(public=True)
def invitation(ui: Ui) -> Response:
    token = ui.path("token")
    secret = ui.request.app.state.web_secret
    try:
        tenant, user = read_invitation(ui.db, secret, token)
    except HarmoniaError as error:
        return ui.render("error.html", status=error.http_status, message=error.message, bare=True)
    context: dict[str, Any] = {"tenant": tenant, "invitee": user, "min_password": MIN_PASSWORD}
    if ui.request.method == "GET":
        return ui.render("invite.html", values={"name": user.name}, **context)
    password = str(ui.form.get("password", ""))
    if password != str(ui.form.get("password_again", "")):
        return ui.render("invite.html", status=422, error="The two passwords are not the same.",
                         error_fields=["password_again"], values={"name": ui.field("name")}, **context)  # fmt: skip
    try:
        person = accept_invitation(ui.db, secret, token, ui.field("name"), password)
    except HarmoniaError as error:
        return ui.render("invite.html", status=error.http_status, error=for_people(error),
                         error_fields=[str(error.details.get("field", ""))], values={"name": ui.field("name")},
                         **context)  # fmt: skip
    _start_session(ui, person)
    ui.session["last_workspace"] = person.tenant_slug
    return ui.redirect("/board", flash=f"Welcome to {person.tenant_name}, {person.name}.")


ROUTES = [
    Route("/signin", signin, methods=["GET", "POST"]),
    Route("/signout", signout, methods=["POST"]),
    Route("/invite/{token}", invitation, methods=["GET", "POST"]),
]
