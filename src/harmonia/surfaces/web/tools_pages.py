"""Settings → Workspace tools (owner only): upstream MCP servers, HTTP tools and the secrets they use (SPEC §12).
Secrets are write-only here as everywhere: the page shows a name, a host and a digest, never a value, and a secret's
field is never filled back in after a failed form."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from ...errors import HarmoniaError
from ...models import SCOPES
from .kit import Ui, view
from .wording import for_people

__all__ = ["ROUTES"]


def _context(ui: Ui) -> dict[str, Any]:
    if not ui.can("upstreams_list"):
        return {"allowed": False}
    return {
        "allowed": True,
        "upstreams": ui.call("upstreams_list")["items"],
        "tools": ui.call("custom_tools_list")["items"],
        "secrets": ui.call("secrets_list")["items"],
        "all_scopes": SCOPES,
    }


@view
def tools(ui: Ui) -> Response:
    return ui.render("settings_tools.html", section="tools", **_context(ui))


@view
def secrets_set(ui: Ui) -> Response:
    try:
        ui.call("secrets_set", name=ui.field("name"), host=ui.field("host"), value=ui.field("value"))
    except HarmoniaError as error:
        return ui.failed("settings_tools.html", error, section="tools", **_context(ui))
    return ui.redirect("/settings/tools", flash=f"Secret {ui.field('name')} stored; it is never shown again.")


@view
def secrets_delete(ui: Ui) -> Response:
    try:
        ui.call("secrets_delete", name=ui.path("name"))
    except HarmoniaError as error:
        return ui.redirect("/settings/tools", flash=f"Nothing changed: {for_people(error)}", kind="error")
    return ui.redirect("/settings/tools", flash=f"Secret {ui.path('name')} deleted.")


@view
def upstreams_add(ui: Ui) -> Response:
    header, value = ui.field("header_name"), ui.field("header_value")
    try:
        ui.call("upstreams_add", name=ui.field("name"), url=ui.field("url"), scope=ui.field("scope") or "mcp:read",
                headers={header: value} if header else None)  # fmt: skip
    except HarmoniaError as error:
        return ui.failed("settings_tools.html", error, section="tools", **_context(ui))
    name = ui.field("name")
    return ui.redirect("/settings/tools", flash=f"Upstream {name} added: its tools are the toolset {name}.")


@view
def upstreams_remove(ui: Ui) -> Response:
    try:
        ui.call("upstreams_remove", name=ui.path("name"))
    except HarmoniaError as error:
        return ui.redirect("/settings/tools", flash=f"Nothing changed: {for_people(error)}", kind="error")
    return ui.redirect("/settings/tools", flash=f"Upstream {ui.path('name')} removed.")


ROUTES = [
    Route("/settings/tools", tools, methods=["GET"]),
    Route("/settings/tools/secrets", secrets_set, methods=["POST"]),
    Route("/settings/tools/secrets/{name}/delete", secrets_delete, methods=["POST"]),
    Route("/settings/tools/upstreams", upstreams_add, methods=["POST"]),
    Route("/settings/tools/upstreams/{name}/remove", upstreams_remove, methods=["POST"]),
]
