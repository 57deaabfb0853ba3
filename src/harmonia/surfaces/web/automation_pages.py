"""Automation: workflows and sequences, their steps and versions, and every run with what it did and why.

A person activates or deactivates a workflow here (an agent's draft arrives inactive), and resumes or discards the
runs that paused because outbound was off — one by one, or all at once. Everything goes through the registry as the
signed-in person (channel `ui`).
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from ...errors import HarmoniaError
from .kit import Ui, view
from .wording import for_people

__all__ = ["ROUTES"]


@view
def workflows(ui: Ui) -> Response:
    listed = ui.call("workflows_list", limit=100)
    paused = ui.call("enrollments_list", status="paused", limit=100)["items"]
    return ui.render("automation.html", workflows=listed["items"], paused=paused)


@view
def workflow_page(ui: Ui) -> Response:
    workflow_id = ui.path("workflow_id")
    wf = ui.call("workflows_get", workflow_id=workflow_id)
    runs = ui.call("enrollments_list", workflow_id=workflow_id, limit=100)["items"]
    behind = [r for r in runs if r["version"] < wf["version"] and r["status"] in ("active", "waiting", "paused")]
    contacts = ui.call("contacts_list", limit=100)["items"]
    trial, trial_error, chosen = None, None, ui.query("test_contact")
    if chosen:  # "Test run": read-only, so a plain GET (nothing is sent, written or enrolled)
        try:
            trial = ui.call("workflows_test_run", workflow_id=workflow_id, contact_id=chosen)
        except HarmoniaError as error:
            trial_error = for_people(error.message)
    return ui.render("automation_workflow.html", wf=wf, runs=runs, behind=behind, contacts=contacts, trial=trial,
                     trial_error=trial_error, chosen=chosen)  # fmt: skip


@view
def workflow_move_runs(ui: Ui) -> Response:
    workflow_id = ui.path("workflow_id")
    try:
        done = ui.call("enrollments_move", workflow_id=workflow_id)
    except HarmoniaError as error:
        return ui.redirect(f"/automation/{workflow_id}", flash=f"Not moved: {for_people(error.message)}",
                           kind="error")  # fmt: skip
    flash = f"Moved {done['moved']} run(s) to version {done['version']}."
    if done["skipped"]:
        flash += f" {done['skipped']} could not move now (a step was running); try again in a minute."
    return ui.redirect(f"/automation/{workflow_id}", flash=flash)


@view
def workflow_active(ui: Ui) -> Response:
    workflow_id = ui.path("workflow_id")
    active = ui.field("active") == "true"
    try:
        wf = ui.call("workflows_get", workflow_id=workflow_id)
        ui.call("workflows_upsert", workflow_id=workflow_id, name=wf["name"], kind=wf["kind"], steps=wf["steps"],
                trigger=wf.get("trigger"), settings=wf.get("settings"), active=active)  # fmt: skip
    except HarmoniaError as error:
        return ui.redirect(
            f"/automation/{workflow_id}", flash=f"Not changed: {for_people(error.message)}", kind="error"
        )
    return ui.redirect(f"/automation/{workflow_id}", flash=f"{wf['name']} is {'active' if active else 'inactive'}.")


@view
def runs_resume(ui: Ui) -> Response:
    action = "discard" if ui.field("action") == "discard" else "resume"
    enrollment_id = ui.field("enrollment_id") or None
    try:
        done = ui.call("enrollments_resume", action=action, enrollment_id=enrollment_id)
    except HarmoniaError as error:
        return ui.redirect(ui.back("/automation"), flash=f"Not changed: {for_people(error.message)}", kind="error")
    verb = "Resumed" if action == "resume" else "Discarded"
    return ui.redirect(ui.back("/automation"), flash=f"{verb} {done['count']} paused run(s).")


@view
def run_stop(ui: Ui) -> Response:
    try:
        ui.call("enrollments_stop", enrollment_id=ui.path("enrollment_id"), reason="from the web UI")
    except HarmoniaError as error:
        return ui.redirect(ui.back("/automation"), flash=f"Not stopped: {for_people(error.message)}", kind="error")
    return ui.redirect(ui.back("/automation"), flash="Stopped.")


ROUTES = [
    Route("/automation", workflows),
    Route("/automation/runs/resume", runs_resume, methods=["POST"]),
    Route("/automation/runs/{enrollment_id}/stop", run_stop, methods=["POST"]),
    Route("/automation/{workflow_id}", workflow_page),
    Route("/automation/{workflow_id}/active", workflow_active, methods=["POST"]),
    Route("/automation/{workflow_id}/move-runs", workflow_move_runs, methods=["POST"]),
]
