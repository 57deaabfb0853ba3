"""Domain events are written with the change and handed out only after it commits; a failing reaction never undoes
or misreports the change."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from harmonia.events import DomainEvent
from harmonia.ids import new_id
from harmonia.models import Contact, DomainEventRow

from ..conftest import Workspace


def test_an_event_is_stored_with_its_change_and_handed_out_after_commit(acme: Workspace) -> None:
    seen: list[DomainEvent] = []
    acme.db.bus.subscribe("contact_noted", seen.append)
    with acme.db.unit_of_work(acme.actor()) as uow:
        contact = Contact(id=new_id("contact"), first_name="Ann")
        uow.session.add(contact)
        uow.emit("contact_noted", subject=("contact", contact.id), why="test")
        assert seen == []  # not before commit
    assert [(e.name, e.subject_id, e.data, e.tenant_id) for e in seen] == [
        ("contact_noted", contact.id, {"why": "test"}, acme.id)
    ]
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        [row] = uow.session.scalars(select(DomainEventRow).where(DomainEventRow.name == "contact_noted")).all()
    assert (row.subject_id, row.channel, row.actor_user_id, row.processed_at) == (
        contact.id,
        "mcp",
        acme.owner.id,
        None,
    )


def test_a_unit_that_rolls_back_hands_out_nothing_and_keeps_no_event(acme: Workspace) -> None:
    seen: list[DomainEvent] = []
    acme.db.bus.subscribe("contact_noted", seen.append)
    with pytest.raises(RuntimeError), acme.db.unit_of_work(acme.actor()) as uow:
        uow.emit("contact_noted", subject=("contact", "ct_00000000000000000000"))
        raise RuntimeError("boom")
    assert seen == []
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        assert uow.session.scalars(select(DomainEventRow)).all() == []


def test_a_failing_handler_is_isolated_and_the_next_handler_still_runs(acme: Workspace) -> None:
    seen: list[str] = []

    def explode(event: DomainEvent) -> None:
        raise ValueError("reaction failed")

    acme.db.bus.subscribe("contact_noted", explode)
    acme.db.bus.subscribe("contact_noted", lambda e: seen.append(e.id))
    with acme.db.unit_of_work(acme.actor()) as uow:
        event = uow.emit("contact_noted")
    assert seen == [event.id]


def test_events_of_one_workspace_are_invisible_to_another(acme: Workspace, rival: Workspace) -> None:
    with acme.db.unit_of_work(acme.actor()) as uow:
        uow.emit("contact_noted")
    with rival.db.unit_of_work(rival.actor(), write=False) as uow:
        assert uow.session.scalars(select(DomainEventRow)).all() == []
