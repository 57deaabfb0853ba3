"""Access tokens: shown once, stored hashed, bound to a user and tenant, scoped, revocable, with last-used time."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from harmonia.errors import InvalidArguments, Unauthenticated
from harmonia.models import AccessToken
from harmonia.services.tenancy import authenticate, create_token, revoke_token

from ..conftest import Workspace


def test_a_token_is_stored_only_as_a_hash_and_authenticates_as_its_user_and_tenant(acme: Workspace) -> None:
    issued = create_token(acme.db, acme.slug, acme.owner.email, ["mcp:read", "mcp:comms"], "Claude Desktop")
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        row = uow.session.scalar(select(AccessToken).where(AccessToken.id == issued.token.id))
        assert row is not None
        assert row.secret_hash == hashlib.sha256(issued.secret.encode()).hexdigest()
        assert issued.secret not in str(vars(row).values())
    actor = authenticate(acme.db, issued.secret, channel="mcp")
    assert (actor.tenant_id, actor.user_id, actor.client) == (acme.id, acme.owner.id, "Claude Desktop")
    assert actor.scopes == {"mcp:read", "mcp:comms"}


def test_authenticating_records_the_last_used_time(acme: Workspace) -> None:
    issued = create_token(acme.db, acme.slug, acme.owner.email, ["mcp:read"])
    assert issued.token.last_used_at is None
    authenticate(acme.db, issued.secret, channel="api")
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        row = uow.session.scalar(select(AccessToken).where(AccessToken.id == issued.token.id))
        assert row is not None and row.last_used_at is not None


def test_a_revoked_token_no_longer_authenticates(acme: Workspace) -> None:
    issued = create_token(acme.db, acme.slug, acme.owner.email, ["mcp:read"])
    with acme.db.unit_of_work(acme.actor()) as uow:
        revoke_token(uow, issued.token.id)
    with pytest.raises(Unauthenticated):
        authenticate(acme.db, issued.secret, channel="mcp")


@pytest.mark.parametrize("secret", ["", "nope", "hm_tn_00000000000000000000_" + "x" * 32, "Bearer abc"])
def test_unknown_or_malformed_tokens_are_refused_alike(acme: Workspace, secret: str) -> None:
    with pytest.raises(Unauthenticated) as info:
        authenticate(acme.db, secret, channel="mcp")
    assert "token" in info.value.message


def test_a_token_of_one_tenant_with_its_tenant_part_swapped_is_refused(acme: Workspace, rival: Workspace) -> None:
    issued = create_token(acme.db, acme.slug, acme.owner.email, ["mcp:read"])
    forged = issued.secret.replace(acme.id, rival.id)
    with pytest.raises(Unauthenticated):
        authenticate(acme.db, forged, channel="mcp")


def test_scopes_outside_the_four_are_refused(acme: Workspace) -> None:
    with pytest.raises(InvalidArguments, match="mcp:read"):
        create_token(acme.db, acme.slug, acme.owner.email, ["mcp:everything"])
