"""The `reports` toolset over Streamable HTTP with the SDK client against seeded data: opted into with
`?toolsets=reports`, each answer names stages, owners and lenders beside their ids, and stays small (its bytes and
estimated tokens are printed in the run's figures)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import Served
from .test_mcp_server import http_client


@pytest.mark.one_backend
async def test_the_reports_toolset_answers_pipeline_and_lender_reports_in_a_few_kilobytes(
    served: Served, report_figure: Any
) -> None:
    h, client = http_client(served, served.tokens["read"], path="/mcp?toolsets=reports")
    async with h, client as c:
        names = {t.name for t in (await c.list_tools()).tools}
        pipeline = await c.call_tool("reports_pipeline", {"period": "quarter"})
        lenders = await c.call_tool("reports_lenders", {"period": "quarter"})
    assert names == {"reports_pipeline", "reports_lenders"}
    for name, result in (("reports_pipeline", pipeline), ("reports_lenders", lenders)):
        assert not result.is_error, result
        text = "".join(getattr(block, "text", "") for block in result.content)
        size = len(json.dumps(result.structured_content, separators=(",", ":")).encode())
        whole = len(text.encode()) + size  # the server sends the text block beside structuredContent
        report_figure(f"{name} (quarter, seeded 300): {size:,} bytes of JSON, ~{size // 4:,} tokens (bytes/4); "
                      f"{whole:,} bytes with the text block")  # fmt: skip
        assert size < 6_000, f"{name} answers {size:,} bytes; keep a report under 6 KB"
    p, lr = pipeline.structured_content, lenders.structured_content
    assert p is not None and lr is not None
    assert p["timezone"] == "America/New_York" and p["pipeline"]
    stages = {s["name"]: s for s in p["stages"]}
    assert stages["New Lead"]["entered"] > 0 and "previous" in stages["New Lead"]
    assert p["totals"]["new_deals"] > 0
    assert lr["lenders"] and all(x["name"] and x["lender_id"] for x in lr["lenders"])
    assert lr["totals"]["submissions"] >= sum(x["submissions"] for x in lr["lenders"])
    assert any(x["decline_reasons"] for x in lr["lenders"])
