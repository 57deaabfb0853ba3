"""Walking a list page by page gives exactly the rows of one big page, in the same order, for every sort — ties in
the sort value included (the id breaks them) — and a filter narrows every page alike."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from harmonia.errors import InvalidArguments
from harmonia.ids import new_id
from harmonia.models import Contact, Lender, Opportunity, utcnow
from harmonia.services.paging import encode_cursor

from ..conftest import Workspace


def _walk(ws: Workspace, tool: str, **args: Any) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        page = ws.call(tool, **args, limit=3, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= 3
        seen += [item["id"] for item in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            return seen


@pytest.fixture
def book(acme: Workspace) -> Workspace:
    """Eleven deals whose amounts, update times and idle times tie in groups, and one without an amount."""
    base = utcnow() - timedelta(days=30)
    for i in range(11):
        contact = acme.call("contacts_create", first_name=f"Owner{i}", email=f"owner{i}@example.com")
        acme.call("opportunities_create", name=f"Deal {i}", contact_id=contact["id"], amount=10_000 * (i % 3 + 1))
    acme.call("opportunities_create", name="No amount yet")
    with acme.db.unit_of_work(acme.actor()) as uow:
        for n, deal in enumerate(uow.session.query(Opportunity).order_by(Opportunity.id)):
            tie = base + timedelta(days=n // 4)
            deal.updated_at = deal.last_activity_at = tie
        uow.session.execute(update(Contact).values(updated_at=base))
    return acme


@pytest.mark.parametrize("sort", ["updated_desc", "amount_desc", "idle_desc"])
def test_paging_deals_by_any_sort_repeats_and_skips_nothing(book: Workspace, sort: str) -> None:
    whole = [d["id"] for d in book.call("opportunities_list", sort=sort, limit=100)["items"]]
    assert len(whole) == (11 if sort == "amount_desc" else 12)
    assert _walk(book, "opportunities_list", sort=sort) == whole


def test_paging_stale_deals_keeps_the_most_neglected_first(book: Workspace) -> None:
    whole = book.call("opportunities_list", stale_days=7, limit=100)["items"]
    idle = [d["last_activity_at"] for d in whole]
    assert idle == sorted(idle) and len(whole) == 12
    assert _walk(book, "opportunities_list", stale_days=7) == [d["id"] for d in whole]


def test_paging_filtered_deals_keeps_the_filter_on_every_page(book: Workspace) -> None:
    walked = _walk(book, "opportunities_list", amount_min=20_000, sort="amount_desc")
    amounts = {d["id"]: d.get("amount") for d in book.call("opportunities_list", limit=100)["items"]}
    assert len(walked) == 7 and all(amounts[i] >= 20_000 for i in walked)


@pytest.mark.parametrize("sort", ["updated_desc", "created_asc", "last_name_asc"])
def test_paging_contacts_whose_sort_values_tie_repeats_and_skips_nothing(book: Workspace, sort: str) -> None:
    whole = [c["id"] for c in book.call("contacts_list", sort=sort, limit=100)["items"]]
    assert len(whole) == 11
    assert _walk(book, "contacts_list", sort=sort) == whole


def _lenders(ws: Workspace, n: int) -> None:
    with ws.db.unit_of_work(ws.actor()) as uow:
        for i in range(n):
            uow.session.add(Lender(id=new_id("lender"), name=f"Lender {i:02d}", status="active"))


def test_paging_the_lender_match_repeats_and_skips_nothing(acme: Workspace) -> None:
    _lenders(acme, 7)
    deal = acme.call("opportunities_create", name="Rosa's Bakery", amount=30_000)
    whole = [x["id"] for x in acme.call("lenders_list", opportunity_id=deal["id"], limit=100)["items"]]
    assert len(whole) == 7
    assert _walk(acme, "lenders_list", opportunity_id=deal["id"]) == whole


GARBLED = ["not-a-cursor!", "WzFd"]  # not base64 JSON; a list of one value where two are written


@pytest.mark.parametrize("cursor", GARBLED)
@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("search", {"q": "lender"}),
        ("lenders_list", {}),
        ("lenders_list", {"opportunity_id": None}),
        ("opportunities_list", {}),
        ("contacts_list", {}),
        ("notes_list", {}),
        ("tasks_list", {}),
        ("audit_list", {}),
    ],
)
def test_a_garbled_cursor_is_refused_by_every_list_never_read_as_the_first_page(
    acme: Workspace, tool: str, args: dict[str, Any], cursor: str
) -> None:
    _lenders(acme, 2)
    if "opportunity_id" in args:
        args = {"opportunity_id": acme.call("opportunities_create", name="Any deal")["id"]}
    with pytest.raises(InvalidArguments, match="cursor is not valid for this list; pass back the `next_cursor`"):
        acme.call(tool, **args, cursor=cursor[:20] if tool == "search" else cursor)


@pytest.mark.parametrize("tool", ["notes_list", "tasks_list", "opportunities_list"])
def test_a_cursor_whose_date_is_not_a_date_is_refused_not_a_failure(acme: Workspace, tool: str) -> None:
    cursor = encode_cursor(["yesterday", "nt_01JD8X2M5Q7R9T1V3W5Y"])
    with pytest.raises(InvalidArguments, match="cursor is not valid for this list"):
        acme.call(tool, cursor=cursor)
