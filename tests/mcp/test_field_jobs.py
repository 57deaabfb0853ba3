"""The four jobs from the field, end to end over Streamable HTTP with the SDK client against seeded data: the morning
brief, stale deals with drafts (never sends), a submission brief for a lender, whose calls dropped off. Each answer
a model reads is measured (bytes, and tokens estimated as bytes / 4) and printed in the run's figures.

One seeded server for the four jobs: seeding is most of the cost, and the jobs only read (a draft is the one write)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from harmonia.mca.match import FITS
from harmonia.models import Message

from .conftest import Served
from .test_mcp_server import http_client

# An instant written with an offset instead of UTC's `Z` (a date-time followed by +hh:mm or -hh:mm).
OFFSET = re.compile(r"\d\d:\d\d(:\d\d(\.\d+)?)?[+-]\d\d:\d\d")


def _payload(text: str) -> dict:
    return json.loads(re.search(r"```json\n(.*)\n```", text, re.S).group(1))  # type: ignore[union-attr]


def _text(answer: Any) -> str:
    """What the model reads: a tool result's text content, or a prompt's first message."""
    if hasattr(answer, "messages"):
        return str(answer.messages[0].content.text)
    return "".join(c.text for c in answer.content if c.type == "text")


class Sizes:
    def __init__(self, dialect: str, report: Callable[[str], None]) -> None:
        self.dialect, self.report = dialect, report

    def __call__(self, job: str, what: str, answer: Any) -> str:
        text = _text(answer)
        size = len(text.encode())
        self.report(f"field job [{self.dialect}] {job}: {what} {size:,} bytes ≈ {size // 4:,} tokens")
        assert not OFFSET.search(text), f"{what}: an instant with an offset instead of Z"
        return text


async def test_the_four_field_jobs_answer_in_few_calls_with_names_utc_times_and_a_match_that_means_what_it_says(
    served: Served, report_figure: Any
) -> None:
    measure = Sizes(served.db.dialect, report_figure)
    h, client = http_client(served, served.tokens["all"])
    async with h, client as c:
        # 1. The morning brief: what changed since the last business close, stalled deals most idle first.
        assert {p.name for p in (await c.list_prompts()).prompts} == {
            "daily_pipeline_brief", "stale_deal_alert", "lender_match_brief"
        }  # fmt: skip
        brief = await c.get_prompt("daily_pipeline_brief", {})
        data = _payload(measure("morning brief", "daily_pipeline_brief", brief))
        assert data["since"].endswith("Z") and data["as_of"].endswith("Z") and data["timezone"]
        assert data["open_pipeline_by_stage"][0]["stage"] == "New Lead"
        assert data["stage_moves"] or data["won"] or data["lost"] or data["lender_decisions"]
        idle = [d["idle_days"] for d in data["stalled_sample"]]
        assert idle and idle == sorted(idle, reverse=True)
        changed = await c.call_tool("opportunities_list", {"updated_since": data["since"]})
        deals = json.loads(measure("morning brief", "opportunities_list updated_since", changed))["items"]
        assert deals and all(d["owner_name"] for d in deals if "owner_id" in d)
        assert all(d["contact_name"] and d["account_name"] for d in deals if "contact_id" in d and "account_id" in d)
        moved_ids = {m["id"] for m in data["stage_moves"] + data["won"] + data["lost"]}
        assert moved_ids <= {d["id"] for d in deals} | moved_ids

        # 2. Stale deals: each names its contact (to write "Hi Daniel") and owner; drafts are written, never sent.
        alert = await c.get_prompt("stale_deal_alert", {"days": "14"})
        text = measure("stale deals", "stale_deal_alert", alert)
        stale = _payload(text)["deals"]
        assert stale and all(d["idle_days"] >= 14 and d["suggested_next_step"] for d in stale)
        assert [d["idle_days"] for d in stale] == sorted((d["idle_days"] for d in stale), reverse=True)
        first = stale[0]
        assert first["contact_name"].startswith(first["contact_first_name"]) and first["owner_name"]
        assert "never send" in text.lower()
        draft = await c.call_tool(
            "email_draft",
            {"contact_id": first["contact_id"], "subject": "Checking in",
             "body": f"Hi {first['contact_first_name']}, any update on the statements?"},
        )  # fmt: skip
        measure("stale deals", "email_draft", draft)
        assert not draft.is_error and draft.structured_content["status"] == "draft"  # type: ignore[index]

        # 3. A submission brief: the ranked match is small, says how much of the ask each lender covers, full first.
        ready = await c.call_tool("opportunities_list", {"stage": "Ready to Submit", "limit": 1})
        deal = ready.structured_content["items"][0]  # type: ignore[index]
        ranked_answer = await c.call_tool("lenders_list", {"opportunity_id": deal["id"]})
        ranked_text = measure("submission brief", "lenders_list opportunity_id (20 lenders)", ranked_answer)
        ranked = ranked_answer.structured_content
        assert ranked is not None and len(ranked["items"]) == 20
        assert len(json.dumps(ranked, separators=(",", ":")).encode()) < 8_000 and len(ranked_text.encode()) < 16_000
        again = (await c.call_tool("lenders_list", {"opportunity_id": deal["id"]})).structured_content
        assert ranked == again  # deterministic
        fits = [x["fit"] for x in ranked["items"]]
        assert fits == sorted(fits, key=FITS.index)
        assert all(x["summary"] for x in ranked["items"]) and "rules" not in ranked["items"][0]
        for x in ranked["items"]:
            if x["fit"] == "partial":
                assert f"of the ${ranked['requested_amount']:,.0f} asked" in x["summary"]
        detailed = await c.call_tool("lenders_list", {"opportunity_id": deal["id"], "details": True, "limit": 1})
        assert {"rule", "result", "actual", "required"} <= set(detailed.structured_content["items"][0]["rules"][0])  # type: ignore[index]
        brief = await c.get_prompt("lender_match_brief", {"opportunity_id": deal["id"]})
        data = _payload(measure("submission brief", "lender_match_brief", brief))
        assert data["lender"]["id"] == ranked["items"][0]["id"]
        assert {
            "deal",
            "match",
            "business",
            "cashflow",
            "strengths",
            "risks",
            "documents",
            "submission_history",
        } <= set(data)
        assert data["match"]["summary"] == ranked["items"][0]["summary"]
        assert all({"rule", "result", "actual", "required"} <= set(r) for r in data["match"]["rules"])
        lowered = _text(brief).lower()
        assert "ssn" in lowered and "social security" not in json.dumps(data).lower()

        # 4. Whose calls dropped off this week: one call; periods follow the workspace's zone, instants are UTC.
        answer = await c.call_tool("reports_activity", {"period": "week"})
        measure("calls dropped off", "reports_activity week", answer)
        report = answer.structured_content
    assert report is not None and report["current_start"].endswith("Z") and report["timezone"]
    assert report["items"] and {"current", "previous", "change"} <= set(report["items"][0])
    changes = [u["change"]["calls"] for u in report["items"]]
    assert changes == sorted(changes)  # biggest drop first
    for d in report["dropped"]:
        assert d["to"] < d["from"]
    with served.db.unit_of_work(served.ws.actor(), write=False) as uow:
        outgoing = uow.session.scalars(
            select(Message).where(Message.status.in_(("queued", "sent")), Message.created_via == "mcp")
        ).all()
    assert outgoing == []
