"""The two most called reads, contacts_get and opportunities_get, each run as ONE statement (with their related lists
as JSON aggregates) on both databases, and still name the owner, contact and account beside their ids."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from harmonia.db import UnitOfWork

from ..conftest import Workspace


@contextmanager
def statements(ws: Workspace) -> Iterator[list[str]]:
    """Every statement sent to the database meanwhile: through SQLAlchemy (an event listener on the engine) and
    through the compiled queries' direct driver path (`UnitOfWork.execute_driver`, which SQLAlchemy does not see)."""
    seen: list[str] = []

    def on_execute(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        seen.append(sql)

    driver_execute = UnitOfWork.execute_driver

    def counted(self: UnitOfWork, sql: str, params: Any) -> Any:
        seen.append(sql)
        return driver_execute(self, sql, params)

    event.listen(ws.db.engine, "before_cursor_execute", on_execute)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(UnitOfWork, "execute_driver", counted)
        try:
            yield seen
        finally:
            event.remove(ws.db.engine, "before_cursor_execute", on_execute)


def test_a_contact_and_a_deal_are_each_read_in_one_statement_with_their_related_names(acme: Workspace) -> None:
    account = acme.call("accounts_upsert", name="Maria's Tacos LLC")
    contact = acme.call("contacts_create", first_name="Maria", last_name="Lopez", email="maria@tacos.test",
                        account_id=account["id"], owner_id=acme.owner.id)  # fmt: skip
    deal = acme.call("opportunities_create", name="Tacos $40k", contact_id=contact["id"], account_id=account["id"],
                     amount=40_000)  # fmt: skip
    acme.call("opportunities_move_stage", opportunity_id=deal["id"], stage="App Out")
    for kind, record in (("contact", contact), ("opportunity", deal)):
        acme.call("notes_create", record_type=kind, record_id=record["id"], body=f"called the {kind}")
        acme.call(
            "tasks_create",
            title=f"follow up the {kind}",
            record_type=kind,
            record_id=record["id"],
            due_at="2030-01-02T09:00:00Z",
        )
        acme.call("tags_apply", record_type=kind, record_id=record["id"], add=["hot"], create_missing=True)

    with statements(acme) as seen:
        got = acme.call("contacts_get", contact_id=contact["id"])
    assert len(seen) == 1, seen
    assert (got["owner_name"], got["account_name"], got["tags"]) == (acme.owner.name, "Maria's Tacos LLC", ["hot"])
    assert [d["id"] for d in got["open_deals"]] == [deal["id"]] and got["open_deals"][0]["amount"] == 40_000
    assert [n["body"] for n in got["notes"]] == ["called the contact"]
    assert [t["title"] for t in got["open_tasks"]] == ["follow up the contact"]

    with statements(acme) as seen:
        full = acme.call("opportunities_get", opportunity_id=deal["id"])
    assert len(seen) == 1, seen
    assert (full["owner_name"], full["contact_name"], full["account_name"]) == (
        acme.owner.name, "Maria Lopez", "Maria's Tacos LLC")  # fmt: skip
    assert (full["stage"], full["amount"], full["tags"]) == ("App Out", 40_000, ["hot"])
    assert [(h.get("from"), h["to"]) for h in full["stage_history"]] == [(None, "New Lead"), ("New Lead", "App Out")]
    assert full["stage_history"][0]["at"].endswith("Z")  # one time format: UTC, written with Z
    assert full["stage_history"][0]["by_name"] == acme.owner.name
    assert [n["body"] for n in full["notes"]] == ["called the opportunity"]
    assert [t["title"] for t in full["tasks"]] == ["follow up the opportunity"]
