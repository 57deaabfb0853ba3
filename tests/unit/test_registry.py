"""`invoke()` is the one gate: scope checks, validation messages, audit of every call, and no leaks on failure."""

from __future__ import annotations

import pytest
from pydantic import BaseModel
from sqlalchemy import select

from harmonia.errors import HarmoniaError, InvalidArguments, NotFound, ScopeDenied
from harmonia.models import AuditEvent
from harmonia.ops import build_registry
from harmonia.ops.registry import OpContext, Operation, Registry, Scope

from ..conftest import Workspace


def _audit(ws: Workspace, action: str) -> list[AuditEvent]:
    ws.flush_reads()  # successful reads are audited in batches
    with ws.db.unit_of_work(ws.actor(), write=False) as uow:
        return list(uow.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_a_call_outside_the_tokens_scopes_is_refused_naming_the_scope_and_audited_as_denied(acme: Workspace) -> None:
    reader = acme.actor(scopes=("mcp:read",))
    with pytest.raises(ScopeDenied) as info:
        acme.call("contacts_create", reader, first_name="Ann")
    assert "mcp:write" in info.value.message
    [row] = _audit(acme, "contacts_create")
    assert (row.outcome, row.channel, row.token_id is None) == ("denied", "mcp", True)


def test_every_successful_call_is_audited_with_actor_channel_and_target(acme: Workspace) -> None:
    created = acme.call("contacts_create", first_name="Ann", email="ann@example.com")
    acme.call("contacts_get", contact_id=created["id"])
    [write] = _audit(acme, "contacts_create")
    assert (write.outcome, write.target_id, write.actor_user_id, write.client) == (
        "ok",
        created["id"],
        acme.owner.id,
        "test client",
    )
    [read] = _audit(acme, "contacts_get")
    assert read.outcome == "ok"


def test_unknown_arguments_are_refused_with_the_list_of_valid_ones(acme: Workspace) -> None:
    with pytest.raises(InvalidArguments) as info:
        acme.call("contacts_list", colour="red")
    assert "unknown argument 'colour'" in info.value.message
    assert "updated_since" in info.value.message
    assert "pydantic" not in info.value.message


def test_an_unexpected_failure_is_reported_without_internals_and_changes_nothing(acme: Workspace) -> None:
    class Args(BaseModel):
        name: str

    def explode(ctx: OpContext, args: Args) -> Args:
        ctx.session.execute(select(AuditEvent).where(AuditEvent.action == "x"))
        raise RuntimeError("SELECT secret FROM table WHERE password = 'hunter2'")

    reg = Registry(
        [
            Operation(
                name="boom",
                title="Boom",
                description="d",
                scope=Scope.WRITE,
                read_only=False,
                input=Args,
                output=Args,
                handler=explode,
            )
        ]
    )
    with pytest.raises(HarmoniaError) as info:
        reg.invoke(acme.h, acme.actor(), "boom", {"name": "x"})
    assert "SELECT" not in info.value.message and "hunter2" not in info.value.message
    assert "nothing was changed" in info.value.message
    [row] = _audit(acme, "boom")
    assert row.outcome == "error"


def test_an_id_of_another_tenant_is_reported_exactly_like_an_id_that_never_existed(
    acme: Workspace, rival: Workspace
) -> None:
    theirs = rival.call("contacts_create", first_name="Rita", email="rita@rival.test")
    with pytest.raises(NotFound) as foreign:
        acme.call("contacts_get", contact_id=theirs["id"])
    made_up = theirs["id"][:-4] + "ZZZZ"
    with pytest.raises(NotFound) as missing:
        acme.call("contacts_get", contact_id=made_up)
    assert foreign.value.message.replace(theirs["id"], "ID") == missing.value.message.replace(made_up, "ID")


def test_operation_names_are_client_safe_and_every_operation_states_read_only() -> None:
    for op in build_registry():
        assert op.name.replace("_", "").isalnum() and len(op.name) <= 40, op.name
        assert isinstance(op.read_only, bool)
        assert len(op.description) <= 400, op.name


def test_invalid_arguments_carry_structured_problems_a_form_or_script_can_act_on(acme: Workspace) -> None:
    with pytest.raises(InvalidArguments) as info:
        acme.call("notes_create", record_type="contact", record_id="ct_01JD8X2M5Q7R9T1V3W5Y", body="", colour="red")
    problems = {p["field"]: p for p in info.value.details["errors"]}
    assert problems["body"]["type"] == "too_short" and problems["body"]["limit"] == 1
    assert problems["colour"]["type"] == "unknown"
    with pytest.raises(InvalidArguments) as info:
        acme.call("contacts_create", first_name="A" * 500)
    [too_long] = [p for p in info.value.details["errors"] if p["field"] == "first_name"]
    assert (too_long["type"], too_long["limit"]) == ("too_long", 100)


def test_the_web_ui_words_structured_problems_without_parsing_english() -> None:
    from harmonia.surfaces.web.wording import for_people

    error = InvalidArguments("Invalid arguments for x: …", errors=[
        {"field": "body", "type": "too_short", "limit": 1, "message": "whatever pydantic said"},
        {"field": "email", "type": "format", "message": "String should match pattern …"},
        {"field": "name", "type": "too_long", "limit": 200, "message": "…"},
    ])  # fmt: skip
    assert for_people(error, {"body": "Note"}) == (
        "Note is required; Email must be an email address, like name@example.com; Name can be at most 200 characters."
    )


def test_a_list_with_too_few_items_is_a_list_problem_not_a_text_one(acme: Workspace) -> None:
    from harmonia.surfaces.web.wording import for_people

    with pytest.raises(InvalidArguments) as info:
        acme.call("tokens_create", name="Cursor", scopes=[])
    [problem] = [p for p in info.value.details["errors"] if p["field"] == "scopes"]
    assert (problem["type"], problem["limit"]) == ("too_few", 1)
    assert for_people(info.value) == "Scopes needs at least one choice."
