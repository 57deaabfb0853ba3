"""Privilege follows the role: a call's scopes are its token's scopes intersected with what the person's *current*
role allows, evaluated on every call, in every process — no cache to go stale."""

from __future__ import annotations

import dataclasses

import pytest

from harmonia.errors import Forbidden, ScopeDenied, Unauthenticated
from harmonia.services.people import person_at_server
from harmonia.services.tenancy import authenticate, create_token, effective_scopes

from ..conftest import Workspace

ALL = ["mcp:read", "mcp:write", "mcp:comms", "mcp:admin"]


def _admin_with_token(acme: Workspace) -> tuple[str, str]:
    admin = acme.call("users_invite", email="ada@acme.test", name="Ada", role="admin")
    acme.call("users_update", user_id=admin["id"], status="active")
    return admin["id"], create_token(acme.db, acme.slug, "ada@acme.test", ALL, "Ada's Claude").secret


def test_a_members_token_never_carries_admin_whatever_it_was_given() -> None:
    assert effective_scopes(ALL, "member") == {"mcp:read", "mcp:write", "mcp:comms"}
    assert effective_scopes(ALL, "admin") == set(ALL)
    assert effective_scopes(ALL, None) == set()


def test_a_demoted_admins_existing_admin_token_loses_admin_on_its_very_next_call(acme: Workspace) -> None:
    admin_id, secret = _admin_with_token(acme)
    actor = authenticate(acme.db, secret, channel="mcp")
    assert "mcp:admin" in actor.scopes
    acme.call("settings_update", actor, sender_name="Ada's desk")  # allowed while admin
    acme.call("users_update", user_id=admin_id, role="member")  # the owner demotes her
    demoted = authenticate(acme.db, secret, channel="mcp")
    assert demoted.role == "member" and "mcp:admin" not in demoted.scopes
    with pytest.raises(ScopeDenied):
        acme.call("settings_update", demoted, sender_name="still me")
    with pytest.raises(ScopeDenied):
        acme.call("users_update", demoted, user_id=admin_id, role="admin")  # and she cannot raise herself back


def test_a_revoked_token_is_refused_on_its_next_call_with_no_grace_period(acme: Workspace) -> None:
    issued = acme.call("tokens_create", name="script", scopes=["mcp:read"])
    authenticate(acme.db, issued["secret"], channel="api")
    acme.call("tokens_revoke", token_id=issued["id"])
    with pytest.raises(Unauthenticated):
        authenticate(acme.db, issued["secret"], channel="api")


def test_a_deactivated_persons_token_stops_at_once(acme: Workspace) -> None:
    admin_id, secret = _admin_with_token(acme)
    authenticate(acme.db, secret, channel="mcp")
    acme.call("users_update", user_id=admin_id, status="deactivated")
    with pytest.raises(Unauthenticated):
        authenticate(acme.db, secret, channel="mcp")


def test_the_command_line_acts_with_the_persons_current_role(acme: Workspace) -> None:
    admin_id, _ = _admin_with_token(acme)
    acme.call("users_update", user_id=admin_id, role="member")
    person = person_at_server(acme.db, acme.slug, "ADA@acme.test")
    assert person.role == "member" and "mcp:admin" not in person.scopes and person.channel == "cli"


def test_no_one_raises_their_own_role_and_only_an_owner_touches_an_owner(acme: Workspace) -> None:
    admin_id, secret = _admin_with_token(acme)
    admin = authenticate(acme.db, secret, channel="api")
    with pytest.raises(Forbidden, match="only an owner"):
        acme.call("users_update", admin, user_id=admin_id, role="owner")
    with pytest.raises(Forbidden, match="only an owner"):
        acme.call("users_update", admin, user_id=acme.owner.id, role="member")
    member = acme.call("users_invite", email="mo@acme.test", name="Mo")
    assert acme.call("users_update", admin, user_id=member["id"], role="admin")["role"] == "admin"
    acme.call("users_update", admin, user_id=admin_id, name="Ada L.")  # her own name is hers to change
    denied = [e for e in acme.call("audit_list", action="users_update")["items"] if e["outcome"] == "denied"]
    assert len(denied) == 2


def test_outbound_is_turned_on_only_by_an_owner_in_the_web_ui_or_at_the_server(acme: Workspace) -> None:
    for channel in ("api", "mcp"):
        with pytest.raises(Forbidden, match="only a workspace owner"):
            acme.call("outbound_set", acme.actor(channel=channel), enabled=True, reason="please")
    _, secret = _admin_with_token(acme)
    admin_ui = dataclasses.replace(authenticate(acme.db, secret, channel="ui"), channel="ui")
    with pytest.raises(Forbidden):
        acme.call("outbound_set", admin_ui, enabled=True, reason="please")
    assert (
        acme.call("outbound_set", acme.actor(channel="ui"), enabled=True, reason="go live")["outbound_enabled"] is True
    )
    assert acme.call("outbound_set", admin_ui, enabled=False, reason="stop")["outbound_enabled"] is False
