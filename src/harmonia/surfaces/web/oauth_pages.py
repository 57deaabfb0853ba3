"""The authorize step of OAuth (SPEC §9) as pages: a person signs in (the usual sign-in, session and CSRF), sees
which workspace, which client (its name marked unverified when it registered itself), where the answer goes, and
which scopes — never wider than their role — each in a plain sentence; then allows or denies. And Settings →
Connected apps: the consents given, who gave them, what they allow, when last used, and revoke.

Errors that make the client or its redirect untrustworthy are shown here, never sent to the redirect URI; the rest
go back to the client as RFC 6749 error redirects, with `state` and the issuer (`iss`, RFC 9207).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from sqlalchemy import select
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ...errors import HarmoniaError, NotFound, Unauthenticated
from ...models import AccessToken
from ...services import oauth
from ...services.oauth import SCOPE_SENTENCES, OAuthError
from ...services.people import person_actor
from ...services.tenancy import ROLE_SCOPES
from .kit import Ui, view

__all__ = ["ROUTES"]

_PARAMS = ("response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method",
           "resource", "scope", "prompt")  # fmt: skip


@dataclass
class _Request:
    params: dict[str, str]
    client: Any
    redirect_uri: str
    resource: str


class _ToClient(Exception):
    """An error the client should hear about at its redirect URI."""

    def __init__(self, error: str, description: str) -> None:
        self.error, self.description = error, description


def _issuer(ui: Ui) -> str:
    return ui.settings.public_url.rstrip("/")


def _read(ui: Ui, source: dict[str, str]) -> _Request:
    """Check an authorization request; an untrustworthy client or redirect raises `OAuthError` (shown as a page)."""
    params = {name: source.get(name, "").strip() for name in _PARAMS}
    if not params["client_id"]:
        raise OAuthError("invalid_request", "this sign-in link names no client (client_id is missing)")
    fetcher = oauth.document_fetcher(ui.settings.egress_ca_file)
    client = oauth.resolve_client(ui.db, params["client_id"], fetcher=fetcher)
    redirect_uri = params["redirect_uri"] or (client.redirect_uris[0] if len(client.redirect_uris) == 1 else "")
    if not redirect_uri or not oauth.redirect_allowed(client.redirect_uris, redirect_uri):
        raise OAuthError("invalid_request", f"{redirect_uri or 'the missing redirect_uri'} is not a redirect address "
                         f"{client.name} registered, so Harmonia will not send anything there")  # fmt: skip
    base = _issuer(ui)
    resource = (params["resource"] or base + "/mcp").rstrip("/")
    return _Request(params=params, client=client, redirect_uri=redirect_uri, resource=resource)


def _check(ui: Ui, req: _Request) -> None:
    """The errors the client hears about at its redirect URI."""
    if req.params["response_type"] != "code":
        raise _ToClient("unsupported_response_type", "response_type must be code")
    if not req.params["code_challenge"] or req.params["code_challenge_method"] != "S256":
        raise _ToClient("invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256")
    if req.resource not in {_issuer(ui) + "/mcp", _issuer(ui) + "/mcp/readonly"}:
        raise _ToClient("invalid_target", f"{req.resource} is not a resource of this server")


def _back_to_client(ui: Ui, req: _Request, **answer: str) -> Response:
    query = {**answer, "iss": _issuer(ui)}
    if req.params["state"]:
        query["state"] = req.params["state"]
    separator = "&" if urlsplit(req.redirect_uri).query else "?"
    return RedirectResponse(req.redirect_uri + separator + urlencode(query), status_code=303)


def _signed_in(ui: Ui) -> bool:
    stored = ui.session.get("person")
    if not isinstance(stored, dict):
        return False
    try:
        ui.actor, ui.person = person_actor(ui.db, stored["t"], stored["u"], request_id=ui.request_id)
    except Unauthenticated:
        ui.session.pop("person", None)
        return False
    ui.outbound_enabled = ui.person.outbound_enabled
    return True


@view(public=True)
def authorize(ui: Ui) -> Response:
    response = _authorize(ui)
    # A consent page inside another site's frame could be clicked through without the person knowing. Its CSP has
    # no `form-action 'self'` (the other pages' default): after the consent form, the browser follows a redirect to
    # the client's own callback, which Chrome checks against form-action.
    response.headers["x-frame-options"] = "DENY"
    response.headers["content-security-policy"] = "frame-ancestors 'none'; base-uri 'self'"
    return response


def _authorize(ui: Ui) -> Response:
    source = dict(ui.form) if ui.request.method == "POST" else dict(ui.request.query_params)
    try:
        req = _read(ui, source)
    except OAuthError as error:
        return ui.render("error.html", status=400, message=f"This connection cannot go on: {error.message}.",
                         bare=True)  # fmt: skip
    try:
        _check(ui, req)
    except _ToClient as refusal:
        return _back_to_client(ui, req, error=refusal.error, error_description=refusal.description)
    here = "/oauth/authorize?" + urlencode({k: v for k, v in req.params.items() if v})
    if not _signed_in(ui):
        return RedirectResponse(f"/signin?next={quote(here, safe='')}", status_code=303)
    assert ui.person is not None and ui.actor is not None
    allowed = ROLE_SCOPES.get(ui.person.role, frozenset())
    requested = oauth.split_scopes(req.params["scope"]) or list(oauth.DEFAULT_SCOPES)
    if req.resource.endswith("/readonly"):
        requested = [s for s in requested if s == "mcp:read"] or ["mcp:read"]
    offered = [s for s in requested if s in allowed]
    if ui.request.method == "GET" and offered and _remembered(ui, req, offered):
        code = oauth.create_code(ui.db, ui.actor, client=req.client, scopes=offered, redirect_uri=req.redirect_uri,
                                 code_challenge=req.params["code_challenge"], resource=req.resource)  # fmt: skip
        return _back_to_client(ui, req, code=code)
    if ui.request.method == "GET":
        return ui.render("oauth_consent.html", client=req.client, redirect_host=_host(req.redirect_uri),
                         params=req.params, offered=offered, beyond=[s for s in requested if s not in allowed],
                         sentences=SCOPE_SENTENCES, here=here)  # fmt: skip
    action = ui.field("action")
    if action == "switch":
        ui.session.pop("person", None)
        return RedirectResponse(f"/signin?next={quote(here, safe='')}", status_code=303)
    if action != "allow":
        return _back_to_client(ui, req, error="access_denied", error_description="the person declined")
    chosen = [s for s in offered if s in ui.form_lists.get("scopes", [])]
    if not chosen:
        return ui.render("oauth_consent.html", status=422, client=req.client, redirect_host=_host(req.redirect_uri),
                         params=req.params, offered=offered, beyond=[s for s in requested if s not in allowed],
                         sentences=SCOPE_SENTENCES, here=here, error="Choose at least one thing this app may do, "
                         "or deny.")  # fmt: skip
    code = oauth.create_code(ui.db, ui.actor, client=req.client, scopes=chosen, redirect_uri=req.redirect_uri,
                             code_challenge=req.params["code_challenge"], resource=req.resource)  # fmt: skip
    return _back_to_client(ui, req, code=code)


def _remembered(ui: Ui, req: _Request, scopes: list[str]) -> bool:
    """A reconnect needs no second consent — unless the client asks for one (`prompt=consent`) or its redirect is
    not exactly one it registered (a loopback port chosen now could belong to another program)."""
    if "consent" in req.params["prompt"].split() or req.redirect_uri not in req.client.redirect_uris:
        return False
    assert ui.actor is not None and ui.actor.user_id is not None
    with ui.db.unit_of_work(ui.actor, write=False) as uow:
        return oauth.already_allowed(uow, user_id=ui.actor.user_id, client_id=req.client.client_id,
                                     resource=req.resource, scopes=scopes)  # fmt: skip


def _host(uri: str) -> str:
    parts = urlsplit(uri)
    return parts.netloc or f"{parts.scheme}:"


# -- Settings → Connected apps ---------------------------------------------------------------------------------------
def _sees_all(ui: Ui) -> bool:
    return bool(ui.person and ui.person.role in ("owner", "admin"))


@view
def connected_apps(ui: Ui) -> Response:
    assert ui.actor is not None and ui.person is not None
    with ui.db.unit_of_work(ui.actor, write=False) as uow:
        apps = oauth.connected_apps(uow, user_id=None if _sees_all(ui) else ui.person.user_id)
    return ui.render("settings_apps.html", section="apps", apps=apps, sentences=SCOPE_SENTENCES)


@view
def revoke_app(ui: Ui) -> Response:
    assert ui.actor is not None and ui.person is not None
    family = ui.path("family_id")
    with ui.db.unit_of_work(ui.actor, write=False) as uow:
        owner = uow.session.scalar(select(AccessToken.user_id).where(AccessToken.family_id == family).limit(1))
    try:
        if owner is None or (owner != ui.person.user_id and not _sees_all(ui)):
            raise NotFound("that connected app is not here; it may already be revoked")
        oauth.revoke_family(ui.db, ui.actor, family, reason=f"revoked by {ui.person.name} in Settings")
    except HarmoniaError as error:
        return ui.redirect("/settings/apps", flash=f"Nothing changed: {error.message}", kind="error")
    return ui.redirect("/settings/apps", flash="Revoked: that app can no longer act in this workspace.")


ROUTES = [
    Route("/oauth/authorize", authorize, methods=["GET", "POST"]),
    Route("/settings/apps", connected_apps, methods=["GET"]),
    Route("/settings/apps/{family_id}/revoke", revoke_app, methods=["POST"]),
]
