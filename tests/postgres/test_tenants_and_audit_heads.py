"""Below the application (migration 0011): the tenants table is under row-level security — a tenant transaction
sees and changes only its own row — while the paths above tenants (sign-in's slug lookup, tenant creation, SMS
routing, the outbox worker) keep working through the system session; the audit chain's heads only move forward."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from harmonia.db import Database
from harmonia.models import Tenant
from harmonia.services import comms
from harmonia.services.people import set_password, sign_in
from harmonia.services.tenancy import get_tenant

from ..conftest import Workspace

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("db", ["postgresql"], indirect=True)]


def _sql(db: Database, ws: Workspace, sql: str, **params: object) -> object:
    """Run `sql` as the application role inside `ws`'s tenant transaction (RLS applies)."""
    with db.unit_of_work(ws.actor()) as uow:
        result = uow.session.execute(text(sql), params)
        return result.rowcount if result.returns_rows is False else result.all()


def test_a_tenant_transaction_sees_and_updates_only_its_own_tenant_row(
    db: Database, acme: Workspace, rival: Workspace
) -> None:
    assert _sql(db, acme, "SELECT id FROM tenants") == [(acme.id,)]
    assert _sql(db, acme, "UPDATE tenants SET outbound_enabled = true WHERE id = :t", t=rival.id) == 0
    assert _sql(db, acme, "UPDATE tenants SET outbound_enabled = true") == 1  # its own row only
    assert get_tenant(db, rival.slug).outbound_enabled is False
    assert get_tenant(db, acme.slug).outbound_enabled is True


def test_a_tenant_transaction_can_neither_create_nor_delete_a_tenant(db: Database, acme: Workspace) -> None:
    with pytest.raises(DBAPIError, match="row-level security"):
        _sql(db, acme, "INSERT INTO tenants (id, name, slug, timezone, plan, settings, outbound_enabled, created_at) "
                       "VALUES ('tn_00000000000000000000', 'x', 'x', 'UTC', 'trial', '{}', false, now())")  # fmt: skip
    with pytest.raises(DBAPIError, match="permission denied"):
        _sql(db, acme, "DELETE FROM tenants")


def test_a_connection_with_no_tenant_and_no_system_mark_sees_no_tenant(db: Database, acme: Workspace) -> None:
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tenants")).scalar() == 0


def test_the_paths_above_tenants_still_work_through_the_system_session(db: Database, acme: Workspace) -> None:
    set_password(db, acme.slug, acme.owner.email, "correct horse battery staple")
    assert sign_in(db, acme.slug, acme.owner.email, "correct horse battery staple").tenant_id == acme.id
    with db.unit_of_work(acme.actor()) as uow:  # a tenant transaction may change its own row
        tenant = uow.session.get(Tenant, acme.id)
        assert tenant is not None
        tenant.settings = {**tenant.settings, "sender": {"sms_from": "+15555550199"}}
    assert comms.tenant_for_number(db, "+15555550199") == acme.id
    assert comms.dispatch_due(db, acme.h.providers) == 0  # lists every tenant's id


def test_the_audit_heads_cannot_be_deleted_or_moved_backwards_by_the_application(db: Database, acme: Workspace) -> None:
    acme.call("contacts_create", first_name="Ann")  # the head moves forward on every append
    (seq,) = _sql(db, acme, "SELECT seq FROM audit_heads")[0]  # type: ignore[index]
    assert seq >= 2
    with pytest.raises(DBAPIError, match="cannot be deleted"):
        _sql(db, acme, "DELETE FROM audit_heads")
    with pytest.raises(DBAPIError, match="only moves forward"):
        _sql(db, acme, "UPDATE audit_heads SET seq = 0")
    with pytest.raises(DBAPIError, match="only moves forward"):
        _sql(db, acme, "UPDATE audit_heads SET hash = repeat('0', 64)")
    with pytest.raises(DBAPIError, match="permission denied"):
        _sql(db, acme, "TRUNCATE audit_heads")
    acme.call("contacts_create", first_name="Bo")
    assert _sql(db, acme, "SELECT seq FROM audit_heads")[0][0] > seq  # type: ignore[index]
