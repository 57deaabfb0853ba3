"""Signing in, invitations, and access tokens managed by people (web UI and REST)."""

from __future__ import annotations

import pytest

from harmonia.clock import ManualClock
from harmonia.db import Actor, Database
from harmonia.errors import Forbidden, NotFound, ScopeDenied, Unauthenticated
from harmonia.services.audit import verify_chain
from harmonia.services.people import accept_invitation, invitation_link_token, read_invitation, set_password, sign_in
from harmonia.services.tenancy import ROLE_SCOPES, authenticate

from ..conftest import Workspace

PASSWORD = "a perfectly fine passphrase"
SECRET = "unit-test-secret-key"


def _member(ws: Workspace, email: str = "mia@acme.test", role: str = "member") -> str:
    user = ws.call("users_invite", email=email, name="Mia", role=role)
    set_password(ws.db, ws.slug, email, PASSWORD)
    return str(user["id"])


def _as(ws: Workspace, user_id: str, role: str, channel: str = "ui") -> Actor:
    return ws.actor(channel=channel, user_id=user_id, role=role, scopes=ROLE_SCOPES[role], client=None)


def test_every_kind_of_wrong_sign_in_gets_the_same_answer(acme: Workspace) -> None:
    set_password(acme.db, acme.slug, acme.owner.email, PASSWORD)
    mia = _member(acme)
    acme.call("users_update", user_id=mia, status="deactivated")
    attempts = [
        ("no-such-workspace", acme.owner.email, PASSWORD),
        (acme.slug, "nobody@acme.test", PASSWORD),
        (acme.slug, acme.owner.email, "the wrong passphrase"),
        (acme.slug, "mia@acme.test", PASSWORD),  # deactivated
    ]
    messages = set()
    for workspace, email, password in attempts:
        with pytest.raises(Unauthenticated) as refused:
            sign_in(acme.db, workspace, email, password)
        messages.add(refused.value.message)
    assert len(messages) == 1
    person = sign_in(acme.db, acme.slug.upper(), acme.owner.email.upper(), PASSWORD)
    assert (person.user_id, person.role) == (acme.owner.id, "owner")


def test_ten_failed_sign_ins_lock_that_account_for_fifteen_minutes_in_every_process(acme: Workspace) -> None:
    clock = ManualClock()
    acme.db.clock = clock
    set_password(acme.db, acme.slug, acme.owner.email, PASSWORD)
    for _ in range(10):
        with pytest.raises(Unauthenticated):
            sign_in(acme.db, acme.slug, acme.owner.email, "guess guess guess")
    with pytest.raises(Unauthenticated, match="too many failed sign-ins"):
        sign_in(acme.db, acme.slug, acme.owner.email, PASSWORD)
    other_process = Database(acme.db.url, clock=clock)  # the count is in the database, not in this process
    try:
        with pytest.raises(Unauthenticated, match="too many failed sign-ins"):
            sign_in(other_process, acme.slug, acme.owner.email, PASSWORD)
        clock.advance(minutes=15, seconds=1)
        assert sign_in(other_process, acme.slug, acme.owner.email, PASSWORD).user_id == acme.owner.id
    finally:
        other_process.dispose()


def test_a_successful_sign_in_clears_the_count_of_failures(acme: Workspace) -> None:
    set_password(acme.db, acme.slug, acme.owner.email, PASSWORD)
    for _ in range(9):
        with pytest.raises(Unauthenticated):
            sign_in(acme.db, acme.slug, acme.owner.email, "guess guess guess")
    sign_in(acme.db, acme.slug, acme.owner.email, PASSWORD)
    for _ in range(9):
        with pytest.raises(Unauthenticated):
            sign_in(acme.db, acme.slug, acme.owner.email, "guess guess guess")
    assert sign_in(acme.db, acme.slug, acme.owner.email, PASSWORD).user_id == acme.owner.id


def test_failed_and_successful_sign_ins_are_in_the_audit_log(acme: Workspace) -> None:
    set_password(acme.db, acme.slug, acme.owner.email, PASSWORD)
    with pytest.raises(Unauthenticated):
        sign_in(acme.db, acme.slug, acme.owner.email, "not it at all")
    sign_in(acme.db, acme.slug, acme.owner.email, PASSWORD)
    events = acme.call("audit_list", action="sign_in")["items"]
    assert sorted(e["outcome"] for e in events) == ["denied", "ok"]


def test_an_invitation_link_works_once_and_a_tampered_one_never(acme: Workspace) -> None:
    user = acme.call("users_invite", email="nico@acme.test", name="Nico")
    link = invitation_link_token(SECRET, acme.id, user["id"])
    with pytest.raises(NotFound):
        read_invitation(acme.db, SECRET, link[:-2] + ("AA" if not link.endswith("AA") else "BB"))
    with pytest.raises(NotFound):
        read_invitation(acme.db, "another-servers-key", link)
    person = accept_invitation(acme.db, SECRET, link, "Nico N.", "long enough secret")
    assert person.role == "member"
    assert sign_in(acme.db, acme.slug, "nico@acme.test", "long enough secret").user_id == user["id"]
    with pytest.raises(NotFound, match="already used"):
        accept_invitation(acme.db, SECRET, link, "Mallory", "take over the account")


def test_a_token_never_carries_a_scope_its_creator_does_not_hold(acme: Workspace) -> None:
    mia = _member(acme)
    member = _as(acme, mia, "member")
    with pytest.raises(Forbidden, match="mcp:admin"):
        acme.h.invoke(member, "tokens_create", {"name": "sneaky", "scopes": ["mcp:read", "mcp:admin"]})
    issued = acme.call("tokens_create", member, name="Cursor", scopes=["mcp:read", "mcp:write"])
    actor = authenticate(acme.db, issued["secret"], channel="api")
    assert actor.user_id == mia and actor.scopes == {"mcp:read", "mcp:write"}
    reader = acme.actor(scopes=("mcp:read",), user_id=mia, role="member")
    with pytest.raises(ScopeDenied):  # a read-only key cannot mint keys
        acme.h.invoke(reader, "tokens_create", {"name": "copy", "scopes": ["mcp:read"]})


def test_a_member_sees_and_revokes_only_their_own_tokens_and_an_admin_anyones(acme: Workspace) -> None:
    mia, ada = _member(acme), _member(acme, "ada@acme.test", role="admin")
    member, admin = _as(acme, mia, "member"), _as(acme, ada, "admin")
    owners = acme.call("tokens_create", _as(acme, acme.owner.id, "owner"), name="owner's", scopes=["mcp:read"])
    mine = acme.call("tokens_create", member, name="mia's", scopes=["mcp:read"])
    assert [t["name"] for t in acme.call("tokens_list", member)["items"]] == ["mia's"]
    with pytest.raises(NotFound):
        acme.h.invoke(member, "tokens_revoke", {"token_id": owners["id"]})
    assert {t["name"] for t in acme.call("tokens_list", admin)["items"]} >= {"mia's", "owner's"}
    acme.call("tokens_revoke", admin, token_id=mine["id"])
    with pytest.raises(Unauthenticated):
        authenticate(acme.db, mine["secret"], channel="api")
    assert "secret" not in acme.call("tokens_list", admin)["items"][0]


def test_the_timeline_of_another_workspaces_contact_does_not_exist(acme: Workspace, rival: Workspace) -> None:
    contact = acme.call("contacts_create", first_name="Rosa", last_name="Diaz", email="rosa@bakery.example")
    acme.call("notes_create", record_type="contact", record_id=contact["id"], body="private to acme")
    assert acme.call("records_timeline", record_type="contact", record_id=contact["id"])["items"]
    with pytest.raises(NotFound):
        rival.call("records_timeline", record_type="contact", record_id=contact["id"])


def test_a_token_used_a_moment_ago_is_refused_as_soon_as_it_is_revoked_or_its_person_deactivated(
    acme: Workspace,
) -> None:
    mia = _member(acme)
    member = _as(acme, mia, "member")
    first = acme.call("tokens_create", member, name="one", scopes=["mcp:read"])
    second = acme.call("tokens_create", member, name="two", scopes=["mcp:read"])
    for secret in (first["secret"], second["secret"]):
        authenticate(acme.db, secret, channel="api")  # checked, and remembered for a few seconds
    acme.call("tokens_revoke", member, token_id=first["id"])
    with pytest.raises(Unauthenticated):
        authenticate(acme.db, first["secret"], channel="api")
    assert authenticate(acme.db, second["secret"], channel="mcp").channel == "mcp"
    acme.call("users_update", user_id=mia, status="deactivated")
    with pytest.raises(Unauthenticated):
        authenticate(acme.db, second["secret"], channel="api")


def test_reads_are_in_the_audit_log_by_the_time_anyone_reads_it(acme: Workspace) -> None:
    contact = acme.call("contacts_create", first_name="Rosa", last_name="Diaz")
    for _ in range(3):
        acme.call("contacts_get", contact_id=contact["id"])
    reads = acme.call("audit_list", action="contacts_get")["items"]
    assert [(e["outcome"], e["target_id"]) for e in reads] == [("ok", contact["id"])] * 3
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        assert verify_chain(uow)[0]
