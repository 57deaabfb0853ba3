"""The Reports page: pipeline by stage, activity per rep against the previous period, lender outcomes — three SVG
charts drawn on the server from the same operations an AI client calls (`reports_pipeline`, `reports_activity`,
`reports_lenders`), each with its numbers in a table beside it."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from .charts import Chart, bar_chart
from .kit import Ui, view

__all__ = ["ROUTES"]

PERIODS = {"week": "Last 7 days", "month": "Last 30 days", "quarter": "Last 90 days"}
ACTIVITY_PERIOD = {"week": "week", "month": "month", "quarter": "month"}  # reports_activity has no quarter
TOUCHES = ("calls", "emails", "sms")


def _change(now: float, before: float) -> str:
    if now == before:
        return "no change"
    pct = f" ({100 * (now - before) / before:+.0f}%)" if before else ""
    return f"{now - before:+,.0f}{pct}"


def _pipeline_chart(report: dict[str, Any]) -> Chart:
    rows = [(s["name"], [("This period", s["entered"]), ("Previous", s["previous"]["entered"])],
             _change(s["entered"], s["previous"]["entered"])) for s in report["stages"]]  # fmt: skip
    return bar_chart("chart-pipeline", "Deals entering each stage",
                     f"Deals that entered each stage of {report['pipeline']}, "
                     f"{report['current']['since']} to {report['current']['until']}, against the same number of days "
                     "before.", rows, {"This period": "s-now", "Previous": "s-before"})  # fmt: skip


def _activity_chart(report: dict[str, Any]) -> Chart:
    rows = []
    for u in sorted(report["items"], key=lambda u: u["name"]):
        now, before = sum(u["current"][m] for m in TOUCHES), sum(u["previous"][m] for m in TOUCHES)
        rows.append((u["name"], [("This period", now), ("Previous", before)], _change(now, before)))
    return bar_chart("chart-activity", "Calls, emails and SMS per rep",
                     f"Calls, emails and SMS sent per person this {report['period']} so far, against the same span "
                     "of the previous one.", rows, {"This period": "s-now", "Previous": "s-before"})  # fmt: skip


def _lender_chart(report: dict[str, Any]) -> Chart:
    rows = [(x["name"], [("Approved", x["approvals"]), ("Declined", x["declines"])],
             f"{x['submissions']} sent · {x['funded']} funded") for x in report["lenders"]]  # fmt: skip
    return bar_chart("chart-lenders", "Lender decisions",
                     f"Approvals and declines per lender decided {report['current']['since']} to "
                     f"{report['current']['until']}, with submissions sent and deals funded.",
                     rows, {"Approved": "s-ok", "Declined": "s-bad"}, stacked=True)  # fmt: skip


@view
def reports(ui: Ui) -> Response:
    period = ui.query("period", "month")
    period = period if period in PERIODS else "month"
    pipeline = ui.call("reports_pipeline", period=period)
    activity = ui.call("reports_activity", period=ACTIVITY_PERIOD[period])
    lenders = ui.call("reports_lenders", period=period)
    charts = {"pipeline": _pipeline_chart(pipeline), "activity": _activity_chart(activity),
              "lenders": _lender_chart(lenders)}  # fmt: skip
    return ui.render("reports.html", period=period, periods=PERIODS, pipeline=pipeline, activity=activity,
                     lenders=lenders, charts=charts, touches=TOUCHES)  # fmt: skip


ROUTES = [Route("/reports", reports)]
