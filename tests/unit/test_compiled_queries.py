"""Compiled queries (harmonia.queries): the hot read paths keep the tenant wall and the models' value conversions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, select

from harmonia.db import TenantIsolationError
from harmonia.models import Contact, Opportunity, Tag, Tagging
from harmonia.queries import TENANT, Query

from ..conftest import Workspace

_C, _O = Contact.__table__.c, Opportunity.__table__.c


def test_a_query_that_does_not_constrain_a_tenant_table_to_the_tenant_is_refused_before_it_runs(
    acme: Workspace,
) -> None:
    unfenced = Query(select(_C.id).where(_C.email == bindparam("email")))
    with acme.db.unit_of_work(acme.actor(), write=False) as uow, pytest.raises(TenantIsolationError):
        unfenced.rows(uow, email="x@example.com")


def test_a_join_whose_second_table_is_not_constrained_to_the_tenant_is_refused(acme: Workspace) -> None:
    g, t = Tagging.__table__, Tag.__table__
    half = Query(select(t.c.name).join_from(g, t, t.c.id == g.c.tag_id).where(g.c.tenant_id == TENANT))
    with acme.db.unit_of_work(acme.actor(), write=False) as uow, pytest.raises(TenantIsolationError, match="tags"):
        half.rows(uow)


def test_an_alias_of_a_tenant_table_is_refused(acme: Workspace) -> None:
    other = Contact.__table__.alias("other")
    aliased = Query(select(other.c.id).where(other.c.tenant_id == TENANT))
    with acme.db.unit_of_work(acme.actor(), write=False) as uow, pytest.raises(TenantIsolationError, match="alias"):
        aliased.rows(uow)


def test_a_caller_cannot_choose_the_tenant_of_a_query(acme: Workspace, rival: Workspace) -> None:
    by_id = Query(select(_C.id).where(_C.tenant_id == TENANT, _C.id == bindparam("contact_id")))
    theirs = rival.call("contacts_create", email="theirs@example.com")["id"]
    with acme.db.unit_of_work(acme.actor(), write=False) as uow, pytest.raises(TenantIsolationError):
        by_id.rows(uow, contact_id=theirs, tenant_id=rival.id)


def test_a_query_sees_only_the_tenant_of_its_unit_of_work(acme: Workspace, rival: Workspace) -> None:
    everyone = Query(select(_C.email).where(_C.tenant_id == TENANT).order_by(_C.email))
    acme.call("contacts_create", email="ours@example.com")
    rival.call("contacts_create", email="theirs@example.com")
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        assert [r.email for r in everyone.rows(uow)] == ["ours@example.com"]
    with rival.db.unit_of_work(rival.actor(), write=False) as uow:
        assert [r.email for r in everyone.rows(uow)] == ["theirs@example.com"]


def test_values_come_back_as_the_models_give_them_aware_utc_times_and_dollars(acme: Workspace) -> None:
    deal = acme.call("opportunities_create", name="Bakery advance", amount=62_500.5)
    since = datetime(2000, 1, 1, tzinfo=UTC)
    recent = Query(
        select(_O.id, _O.amount, _O.updated_at).where(_O.tenant_id == TENANT, _O.updated_at >= bindparam("since"))
    )
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        (row,) = recent.rows(uow, since=since)
        with_session = uow.session.get(Opportunity, (acme.id, deal["id"]))
    assert row.id == deal["id"] and row.amount == 62_500.5
    assert row.updated_at.tzinfo is not None and with_session is not None
    assert row.updated_at == with_session.updated_at


def test_a_write_unit_reads_its_own_uncommitted_rows_through_a_query(acme: Workspace) -> None:
    by_email = Query(select(_C.id).where(_C.tenant_id == TENANT, _C.email == bindparam("email")))
    with acme.db.unit_of_work(acme.actor(), write=True) as uow:
        uow.session.add(Contact(id="ct_01JD8X2M5Q7R9T1V3W5Y", first_name="Ana", email="ana@example.com"))
        uow.flush()
        assert [r.id for r in by_email.rows(uow, email="ana@example.com")] == ["ct_01JD8X2M5Q7R9T1V3W5Y"]
