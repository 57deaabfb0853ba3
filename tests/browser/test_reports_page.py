"""The Reports page draws its three charts on the server (SVG with a title and a description each, the numbers in a
table beside them), through the same operations an AI client calls, and fits a phone."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from .conftest import Site, screenshot


@pytest.mark.one_backend
def test_the_reports_page_shows_pipeline_activity_and_lender_charts_with_their_numbers(
    site: Site, browser: Browser
) -> None:
    page = site.sign_in(browser)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    page.wait_for_url("**/reports")
    page.get_by_role("link", name="Last 90 days").click()
    page.wait_for_url("**/reports?period=quarter")
    for title in ("Deals entering each stage", "Calls, emails and SMS per rep", "Lender decisions"):
        chart = page.get_by_role("img", name=title)
        expect(chart).to_be_visible()
        assert chart.locator("rect").count() > 0, title
    assert page.locator("svg.chart > title").all_text_contents() == [
        "Deals entering each stage", "Calls, emails and SMS per rep", "Lender decisions"]  # fmt: skip
    assert page.locator("svg.chart > desc").count() == 3
    expect(page.get_by_role("link", name="Reports")).to_have_attribute("aria-current", "page")
    screenshot(page, "reports")

    page.get_by_text("The numbers").first.click()  # the pipeline's table, for who cannot see the chart
    table = page.get_by_role("table", name="Pipeline flow per stage")
    expect(table.get_by_role("rowheader", name="New Lead")).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "phone-reports")
    assert site.console_errors == []
