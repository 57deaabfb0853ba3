"""Reads name the people and businesses a record points at beside their ids, so a model needs no second call (and
no admin scope) to learn whose deal it is or how to greet the contact; the names come in the read's own statements."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from harmonia.db import UnitOfWork

from ..conftest import Workspace


@pytest.fixture
def statements(acme: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every SELECT the database runs: ORM statements through SQLAlchemy's cursor event, and the compiled hot-path
    queries (harmonia.queries), which run on the driver connection where no SQLAlchemy event fires."""
    seen: list[str] = []

    def on_execute(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        seen.append(sql)

    driver = UnitOfWork.execute_driver

    def counted(self: UnitOfWork, sql: str, params: Any) -> Any:
        seen.append(sql)
        return driver(self, sql, params)

    monkeypatch.setattr(UnitOfWork, "execute_driver", counted)
    event.listen(acme.db.engine, "before_cursor_execute", on_execute)
    yield seen
    event.remove(acme.db.engine, "before_cursor_execute", on_execute)


def selects(seen: list[str]) -> list[str]:
    return [s for s in seen if s.lstrip().upper().startswith("SELECT")]


@pytest.mark.one_backend
def test_deals_contacts_threads_and_tasks_name_their_owner_contact_and_account_in_one_or_two_statements(
    acme: Workspace, statements: list[str], report_figure: Any
) -> None:
    rita = acme.call("users_invite", email="rita@acme.test", name="Rita Williams", role="member")
    acme.call("users_update", user_id=rita["id"], status="active")
    account = acme.call("accounts_upsert", name="Reyes Trucking LLC", domain="reyestrucking.example")
    daniel = acme.call("contacts_create", first_name="Daniel", last_name="Reyes", email="daniel@reyes.example",
                       account_id=account["id"], owner_id=rita["id"])  # fmt: skip
    for n in range(3):
        created = acme.call("opportunities_create", name=f"Reyes Trucking — renewal {n}", contact_id=daniel["id"],
                            account_id=account["id"], owner_id=rita["id"], amount=50_000 + n)  # fmt: skip
        assert (created["owner_name"], created["contact_name"], created["stage"]) == (
            "Rita Williams", "Daniel Reyes", "New Lead"
        )  # fmt: skip
    acme.call("opportunities_create", name="No one's deal yet", owner_id=acme.owner.id)
    acme.call("tasks_create", title="Chase statements", due_at="2026-12-08T15:00:00Z", assignee_id=rita["id"],
              record_type="contact", record_id=daniel["id"])  # fmt: skip
    acme.call("email_draft", contact_id=daniel["id"], subject="Renewal", body="Hi Daniel")

    statements.clear()
    deals = acme.call("opportunities_list")["items"]
    assert len(selects(statements)) <= 2, selects(statements)  # the deals with their names, and their tags
    report_figure(f"opportunities_list with owner, contact and account names: {len(selects(statements))} SELECTs")
    named = [d for d in deals if d.get("contact_id")]
    assert len(named) == 3 and all(
        (d["owner_name"], d["contact_name"], d["account_name"], d["stage"])
        == ("Rita Williams", "Daniel Reyes", "Reyes Trucking LLC", "New Lead")
        for d in named
    )
    alone = next(d for d in deals if not d.get("contact_id"))
    assert alone["owner_name"] == "Owner" and "contact_name" not in alone and "account_name" not in alone

    one = acme.call("opportunities_get", opportunity_id=named[0]["id"])
    assert (one["owner_name"], one["contact_name"]) == ("Rita Williams", "Daniel Reyes")
    assert one["stage_history"][0]["by_name"] == "Owner"

    contact = acme.call("contacts_list")["items"][0]
    assert (contact["owner_name"], contact["account_name"]) == ("Rita Williams", "Reyes Trucking LLC")
    assert acme.call("contacts_get", contact_id=daniel["id"])["owner_name"] == "Rita Williams"
    thread = acme.call("conversations_list")["items"][0]
    assert (thread["contact_name"], thread["assignee_name"]) == ("Daniel Reyes", "Rita Williams")
    task = acme.call("tasks_list")["items"][0]
    assert task["assignee_name"] == "Rita Williams"
    hit = acme.call("search", q="reyes trucking", types=["opportunity"])["items"][0]
    assert (hit["owner_name"], hit["contact_name"], hit["account_name"]) == (
        "Rita Williams", "Daniel Reyes", "Reyes Trucking LLC"
    )  # fmt: skip
