"""Lenders: the grid and a lender's page; on each deal, the lender match (the `lenders_list` ranking, rule by rule)
and the one-page submission brief, printable. Every read is an operation called as the signed-in person."""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from ...errors import HarmoniaError
from .kit import Ui, url_with, view
from .record_pages import ENTITY_TYPES, PAGE
from .wording import for_people

__all__ = ["ROUTES", "lender_match"]

MATCH_ROWS = 25  # lenders the deal page ranks; the rest a click away on the lenders page


# -- the lender match and the brief on a deal ----------------------------------------------------------------------
def _rules(row: dict[str, Any]) -> list[dict[str, Any]]:
    """Every rule of a ranked lender as {rule, result, actual, required}: fails and unknowns arrive as records,
    passes as "rule: actual (required)" lines (or records, if the operation sends them so)."""
    if isinstance(row.get("rules"), list):  # a ranking that sends every rule as a record, result included
        return [r for r in row["rules"] if isinstance(r, dict)]
    rules = [{**r, "result": "fail"} if isinstance(r, dict) else {"rule": str(r), "result": "fail"}
             for r in row.get("fails") or []]  # fmt: skip
    rules += [{**r, "result": "unknown"} if isinstance(r, dict) else {"rule": str(r), "result": "unknown"}
              for r in row.get("unknowns") or []]  # fmt: skip
    for p in row.get("passes") or []:
        if isinstance(p, dict):
            rules.append({**p, "result": "pass"})
            continue
        found = re.fullmatch(r"([^:]+): (.*) \((.*)\)", str(p))
        rule, actual, required = found.groups() if found else (str(p), "", "")
        rules.append({"rule": rule, "result": "pass", "actual": actual, "required": required})
    return rules


def lender_match(ui: Ui, deal_id: str) -> dict[str, Any]:
    """The deal page's lender match: `lenders_list` ranking this deal, each lender with its rules."""
    try:
        ranked = ui.call(
            "lenders_list", opportunity_id=deal_id, limit=MATCH_ROWS, details=True
        )  # every rule, per lender
    except HarmoniaError as error:
        return {"rows": [], "error": for_people(error), "metrics": None, "more": False}
    rows = [{**row, "rules": _rules(row)} for row in ranked["items"]]
    return {"rows": rows, "error": None, "metrics": ranked.get("deal_metrics"), "more": bool(ranked.get("next_cursor"))}


@view
def deal_brief(ui: Ui) -> Response:
    deal_id = ui.path("deal_id")
    lender_id = ui.query("lender") or None
    brief = ui.call("lenders_brief", opportunity_id=deal_id, lender_id=lender_id)["brief"]
    match = brief.get("match") or {}
    rules = match.get("rules") or []
    return ui.render("deal_brief.html", brief=brief, rules=rules, match=match, deal_id=deal_id,
                     entities=dict(ENTITY_TYPES))  # fmt: skip


# -- lenders --------------------------------------------------------------------------------------------------------
@view
def lenders(ui: Ui) -> Response:
    cursor = ui.query("cursor") or None
    listed = ui.call("lenders_list", limit=PAGE, cursor=cursor)
    next_url = url_with("/lenders", cursor=listed["next_cursor"]) if listed.get("next_cursor") else None
    return ui.render("lenders.html", lenders=listed["items"], next_url=next_url, cursor=cursor)


@view
def lender_page(ui: Ui) -> Response:
    return ui.render("lender.html", lender=ui.call("lenders_get", lender_id=ui.path("lender_id")))


ROUTES = [
    Route("/deals/{deal_id}/brief", deal_brief),
    Route("/lenders", lenders),
    Route("/lenders/{lender_id}", lender_page),
]
