"""The four jobs from the field, end to end over Streamable HTTP with the SDK client against seeded data:
the morning brief, stale deals with drafts (never sends), a submission brief for a lender, whose calls dropped off."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from harmonia.models import Message

from .conftest import Served
from .test_mcp_server import http_client


def _payload(text: str) -> dict:
    return json.loads(re.search(r"```json\n(.*)\n```", text, re.S).group(1))  # type: ignore[union-attr]


async def test_the_morning_brief_embeds_what_changed_since_the_last_business_close(served: Served) -> None:
    h, client = http_client(served, served.tokens["read"])
    async with h, client as c:
        prompts = {p.name for p in (await c.list_prompts()).prompts}
        brief = await c.get_prompt("daily_pipeline_brief", {})
        deals = (
            await c.call_tool(
                "opportunities_list", {"updated_since": _payload(brief.messages[0].content.text)["since"]}
            )
        ).structured_content  # type: ignore[union-attr]
    assert prompts == {"daily_pipeline_brief", "stale_deal_alert", "lender_match_brief"}
    data = _payload(brief.messages[0].content.text)  # type: ignore[union-attr]
    assert data["open_pipeline_by_stage"][0]["stage"] == "New Lead"
    assert data["stage_moves"] or data["won"] or data["lost"] or data["lender_decisions"]
    moved_ids = {m["id"] for m in data["stage_moves"] + data["won"] + data["lost"]}
    assert moved_ids <= {d["id"] for d in deals["items"]} | moved_ids  # type: ignore[index]


async def test_stale_deals_come_with_next_steps_and_drafts_are_written_never_sent(served: Served) -> None:
    h, client = http_client(served, served.tokens["all"])
    async with h, client as c:
        alert = await c.get_prompt("stale_deal_alert", {"days": "14"})
        data = _payload(alert.messages[0].content.text)  # type: ignore[union-attr]
        assert data["deals"] and all(d["idle_days"] >= 14 and d["suggested_next_step"] for d in data["deals"])
        assert "never send" in alert.messages[0].content.text.lower()  # type: ignore[union-attr]
        first = data["deals"][0]
        draft = await c.call_tool(
            "email_draft",
            {"contact_id": first["contact_id"], "subject": "Checking in", "body": "Any update on the statements?"},
        )
    assert not draft.is_error and draft.structured_content["status"] == "draft"  # type: ignore[index]
    with served.db.unit_of_work(served.ws.actor(), write=False) as uow:
        outgoing = uow.session.scalars(
            select(Message).where(Message.status.in_(("queued", "sent")), Message.created_via == "mcp")
        ).all()
    assert outgoing == []


async def test_a_submission_brief_for_a_lender_rests_on_the_deterministic_match(served: Served) -> None:
    h, client = http_client(served, served.tokens["read"])
    async with h, client as c:
        deal = (await c.call_tool("opportunities_list", {"stage": "Ready to Submit", "limit": 1})).structured_content[
            "items"
        ][0]  # type: ignore[index]
        ranked = (await c.call_tool("lenders_list", {"opportunity_id": deal["id"]})).structured_content
        again = (await c.call_tool("lenders_list", {"opportunity_id": deal["id"]})).structured_content
        brief = await c.get_prompt("lender_match_brief", {"opportunity_id": deal["id"]})
    assert ranked == again  # deterministic
    verdicts = [x["verdict"] for x in ranked["items"]]  # type: ignore[index]
    assert verdicts == sorted(verdicts, key=["eligible", "eligible_with_unknowns", "not_a_fit"].index)
    data = _payload(brief.messages[0].content.text)  # type: ignore[union-attr]
    assert data["lender"]["id"] == ranked["items"][0]["id"]  # type: ignore[index]
    assert {"deal", "match", "business", "cashflow", "strengths", "risks", "documents", "submission_history"} <= set(
        data
    )
    assert all({"rule", "result", "actual", "required"} <= set(r) for r in data["match"]["rules"])
    text = brief.messages[0].content.text.lower()  # type: ignore[union-attr]
    assert "ssn" in text and "social security" not in json.dumps(data).lower()


async def test_whose_calls_dropped_off_this_week_is_one_call(served: Served) -> None:
    h, client = http_client(served, served.tokens["read"])
    async with h, client as c:
        report = (await c.call_tool("reports_activity", {"period": "week"})).structured_content
    assert report["items"] and {"current", "previous", "change"} <= set(report["items"][0])  # type: ignore[index]
    changes = [u["change"]["calls"] for u in report["items"]]  # type: ignore[index]
    assert changes == sorted(changes)  # biggest drop first
    for d in report["dropped"]:  # type: ignore[index]
        assert d["to"] < d["from"]
