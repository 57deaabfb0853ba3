"""What every page shares: the signed-in person, CSRF, flash messages, templates, and `Ui.call` — the registry's
`invoke()` with the person as actor (channel `ui`). Pages never touch services for something an operation does.

A view is a plain synchronous function `(ui) -> Response`, run in a worker thread: the database work is blocking, and
keeping views synchronous keeps them short. The async wrapper reads the form, checks CSRF, and restores the session.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload
from urllib.parse import quote, urlencode

import anyio
from jinja2 import Undefined
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from ...bootstrap import Harmonia
from ...config import Settings
from ...db import Actor, Database
from ...errors import HarmoniaError, InvalidArguments, NotFound, Unauthenticated
from ...services.people import Person, person_actor
from ..request_log import request_id_of
from .wording import FILTERS, for_people

__all__ = ["HERE", "Ui", "templates", "view"]

log = logging.getLogger("harmonia.web")
HERE = Path(__file__).parent
MAX_FORM_BYTES = 1024 * 1024  # the largest real form (an email of 20,000 characters) is under 100 KB
templates = Jinja2Templates(directory=HERE / "templates")

NAV = (
    ("board", "Pipeline", "/board"),
    ("contacts", "Contacts", "/contacts"),
    ("accounts", "Accounts", "/accounts"),
    ("lenders", "Lenders", "/lenders"),
    ("inbox", "Inbox", "/inbox"),
    ("drafts", "Drafts", "/drafts"),
    ("tasks", "Tasks", "/tasks"),
    ("reports", "Reports", "/reports"),
    ("automation", "Automation", "/automation"),
)
SETTINGS_NAV = (
    ("comms", "Comms", "/settings/comms"),
    ("users", "Users", "/settings/users"),
    ("tokens", "Access tokens", "/settings/tokens"),
    ("apps", "Connected apps", "/settings/apps"),
    ("connect", "Connect an AI client", "/settings/connect"),
    ("tools", "Workspace tools", "/settings/tools"),
    ("audit", "Audit log", "/audit"),
)


def _tolerant(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that reads a missing value as None: results leave out empty fields (a deal without an amount has no
    `amount` key), and `{{ d.amount | money }}` must then show "—", not fail the whole page for everyone."""

    def filtered(value: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(None if isinstance(value, Undefined) else value, *args, **kwargs)

    return filtered


for _name, _filter in FILTERS.items():
    templates.env.filters[_name] = _tolerant(_filter)
templates.env.globals["NAV"] = NAV
templates.env.globals["SETTINGS_NAV"] = SETTINGS_NAV


class Redirect(Exception):
    def __init__(self, url: str) -> None:
        self.url = url


@dataclass
class Ui:
    """One request, as a view sees it."""

    request: Request
    h: Harmonia
    db: Database
    settings: Settings
    session: dict[str, Any]
    form: Mapping[str, Any]
    form_lists: dict[str, list[str]]
    actor: Actor | None = None
    person: Person | None = None
    outbound_enabled: bool = False
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    # -- reading the request -------------------------------------------------------------------------------------
    def query(self, name: str, default: str = "") -> str:
        return str(self.request.query_params.get(name, default)).strip()

    def field(self, name: str) -> str:
        return str(self.form.get(name, "")).strip()

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    # -- acting ------------------------------------------------------------------------------------------------------
    def call(self, operation: str, **arguments: Any) -> Any:
        """Invoke an operation as the signed-in person; returns the result as plain data (what REST would return)."""
        assert self.actor is not None, "call() needs a signed-in person"
        args = {k: v for k, v in arguments.items() if v is not None and v != ""}
        result = self.h.invoke(self.actor, operation, args)
        return result.model_dump(exclude_none=True)

    def can(self, operation: str) -> bool:
        """Whether the person may run `operation` at all (its declared scope and roles)."""
        op = self.h.registry.get(operation)
        return bool(self.actor and op and self.h.registry.refusal(op, self.actor) is None)

    def _review_counts(self) -> dict[str, int] | None:
        """The navigation's "Drafts (n)": what waits for a person. A page never fails over its badge."""
        if self.actor is None or not self.can("review_counts"):
            return None
        try:
            counts: dict[str, int] = self.call("review_counts")
        except HarmoniaError:
            return None
        return counts

    # -- answering ---------------------------------------------------------------------------------------------------
    def flash(self, text: str, kind: str = "ok") -> None:
        self.session.setdefault("flash", []).append([kind, text.replace("`", "")])

    def redirect(self, url: str, *, flash: str | None = None, kind: str = "ok") -> Response:
        if flash:
            self.flash(flash, kind)
        return RedirectResponse(_local(url), status_code=303)

    def back(self, default: str) -> str:
        """Where a form asked to go after it is handled (`next`), if that is a path on this site."""
        return _local(self.field("next") or self.query("next") or default)

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        flashes = self.session.pop("flash", [])
        for name, default in (("form", None), ("error_fields", []), ("section", None), ("error", None)):
            context.setdefault(name, default)
        context.setdefault("status", status)
        context.update(
            ui=self,
            person=self.person,
            flashes=flashes,
            csrf=self.session.get("csrf", ""),
            outbound_enabled=self.outbound_enabled,
            tz=self.person.timezone if self.person else "UTC",
            values=context.get("values", self.form),
        )
        context.setdefault("review", self._review_counts())
        return templates.TemplateResponse(self.request, template, context, status_code=status)

    def failed(
        self, template: str, error: HarmoniaError, labels: Mapping[str, str] | None = None, **context: Any
    ) -> Response:
        """A form that did not go through: the page again, with what was typed and the reason, in plain words."""
        return self.render(template, status=error.http_status, error=for_people(error, labels),
                           error_fields=_fields(error), **context)  # fmt: skip


def _fields(error: HarmoniaError) -> list[str]:
    fields = error.details.get("fields") or ([error.details["field"]] if "field" in error.details else [])
    return [str(f) for f in fields]


def _local(url: str) -> str:
    """Only same-site paths: a `next` of `//evil.example` or `https://…` becomes the home page."""
    if not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/"
    return url


def url_with(path: str, **params: Any) -> str:
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(clean)}" if clean else path


templates.env.globals["url_with"] = url_with


View = Callable[[Ui], Response]
Endpoint = Callable[[Request], Awaitable[Response]]


@overload
def view(fn: View) -> Endpoint: ...
@overload
def view(*, public: bool = False) -> Callable[[View], Endpoint]: ...
def view(fn: View | None = None, *, public: bool = False) -> Endpoint | Callable[[View], Endpoint]:
    """Make `fn(ui)` a Starlette endpoint: session and person restored, CSRF checked on every POST, errors shown as
    pages (never a stack trace), and the work done off the event loop."""

    def decorate(func: View) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            session: dict[str, Any] = request.session
            session.setdefault("csrf", secrets.token_urlsafe(24))
            form: FormData | None = None
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
                return _plain_error(request, 413, "This form is too large to send (over 1 MB). Shorten the text "
                                    "and submit it again.")  # fmt: skip
            if request.method == "POST":
                form = await request.form()
                sent = str(form.get("csrf", ""))
                if not secrets.compare_digest(sent, session["csrf"]):
                    return _plain_error(request, 403, "This form has expired or did not come from Harmonia. "
                                        "Go back, reload the page and submit it again.")  # fmt: skip
            sent_values = [*(v for v in (form or {}).values() if isinstance(v, str)), *request.query_params.values()]
            if any("\x00" in v for v in sent_values):  # no column can store it (PostgreSQL refuses it in text)
                return _plain_error(request, 400, "This form or link contains a NUL character, which Harmonia cannot "
                                    "store. Remove it (it is often pasted from a binary file) and try again.")  # fmt: skip
            ui = Ui(
                request=request,
                h=request.app.state.h,
                db=request.app.state.h.db,
                settings=request.app.state.h.settings,
                session=session,
                form={k: v for k, v in (form or {}).items() if isinstance(v, str)},
                form_lists={k: [str(v) for v in form.getlist(k)] for k in form} if form else {},
                request_id=request_id_of(request),
            )

            def run() -> Response:
                if not public:
                    _restore_person(ui)
                try:
                    return func(ui)
                except Redirect as r:
                    return RedirectResponse(_local(r.url), status_code=303)

            try:
                return await anyio.to_thread.run_sync(run)
            except Unauthenticated:
                session.pop("person", None)
                return RedirectResponse(f"/signin?next={quote(request.url.path)}", status_code=303)
            except HarmoniaError as error:
                if error.http_status >= 500:
                    log.error("page %s failed (request %s): %s", request.url.path, ui.request_id, error.message)
                if request.method == "GET" and (missing := _missing(error)):
                    noun, home = missing
                    message = (f"There is no {noun} at this address. It may have been deleted, or the link is "
                               "mistyped or from another workspace.")  # fmt: skip
                    return _plain_error(request, 404, message, ui=ui, home=home)
                return _plain_error(request, error.http_status, error.message, ui=ui)
            except Exception:  # a fault of ours: logged whole with its request id, shown as a sentence
                log.exception("page %s failed (request %s)", request.url.path, ui.request_id)
                return _plain_error(request, 500, "This page could not be shown. Nothing more was changed; try again, "
                                    f"or quote request id {ui.request_id} to support.", ui=ui)  # fmt: skip

        endpoint.__name__ = func.__name__
        return endpoint

    return decorate(fn) if fn is not None else decorate


# What a page's id argument names, and the list to go back to, for "there is no such record" pages.
_RECORDS = {
    "opportunity_id": ("deal", ("/board", "Back to the pipeline")),
    "contact_id": ("contact", ("/contacts", "Back to contacts")),
    "conversation_id": ("conversation", ("/inbox", "Back to the inbox")),
    "account_id": ("account", ("/accounts", "Back to accounts")),
    "lender_id": ("lender", ("/lenders", "Back to lenders")),
    "record_id": ("record", ("/board", "Back to the pipeline")),
}


def _missing(error: HarmoniaError) -> tuple[str, tuple[str, str]] | None:
    """For a page that was asked for a record that does not exist (or an id that cannot be one): what it was."""
    if not isinstance(error, NotFound | InvalidArguments):
        return None
    for name in _fields(error):
        if name in _RECORDS:
            return _RECORDS[name]
    return None


def _restore_person(ui: Ui) -> None:
    stored = ui.session.get("person")
    if not isinstance(stored, dict):
        raise Unauthenticated("sign in first")
    session_id = stored.get("s")
    if not isinstance(session_id, str):  # a cookie from before server-side sessions: it cannot be ended, so not kept
        raise Unauthenticated("your session has ended; sign in again")
    ui.actor, ui.person = person_actor(ui.db, stored["t"], stored["u"], request_id=ui.request_id,
                                       session_id=session_id)  # fmt: skip
    ui.outbound_enabled = ui.person.outbound_enabled


def _plain_error(
    request: Request, status: int, message: str, ui: Ui | None = None, home: tuple[str, str] | None = None
) -> Response:
    context = {"status": status, "message": message, "person": ui.person if ui else None, "flashes": [],
               "csrf": request.session.get("csrf", ""), "outbound_enabled": ui.outbound_enabled if ui else False,
               "values": {}, "ui": ui, "home": home}  # fmt: skip
    if ui is None or ui.person is None:
        context["bare"] = True
    try:
        return templates.TemplateResponse(request, "error.html", context, status_code=status)
    except Exception:  # the error page itself must never fail into a stack trace
        return HTMLResponse(f"<h1>{status}</h1>", status_code=status)
