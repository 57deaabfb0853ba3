"""The tenant wall, proven for every tenant-owned model: a unit of work opened for tenant A can neither read nor
write tenant B's rows, whatever ORM query it runs, and the schema refuses cross-tenant references."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Boolean, Date, Float, Integer, String, Text, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from harmonia.db import Actor, Database, TenantIsolationError
from harmonia.ids import new_id
from harmonia.models import Base, TenantOwned
from harmonia.models.base import Json, Money, UTCDateTime

TENANT_MODELS = sorted(
    (m.class_ for m in Base.registry.mappers if issubclass(m.class_, TenantOwned)), key=lambda c: c.__name__
)
BY_TABLE = {cls.__tablename__: cls for cls in TENANT_MODELS}


def _value_for(column: Any) -> Any:
    t = column.type
    if isinstance(t, UTCDateTime):
        return datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    if isinstance(t, Money):
        return 100.0
    if isinstance(t, Json):
        return {}
    if isinstance(t, Date):
        return date(2024, 1, 1)
    if isinstance(t, Boolean):
        return False
    if isinstance(t, Integer | Float):
        return random.randint(10_000, 2**31 - 1)
    if isinstance(t, String | Text):
        return f"v{new_id('tag')[-8:]}"[: getattr(t, "length", None) or 9]
    raise AssertionError(f"no sample value for {column}")


def build_row(session: Any, model: type, tenant_id: str) -> Any:
    """A valid row of `model` in `tenant_id`, creating the parent rows its foreign keys need."""
    table = model.__table__  # type: ignore[attr-defined]
    values: dict[str, Any] = {"tenant_id": tenant_id}
    if "id" in table.c:
        values["id"] = new_id("tag")
    fk_columns: dict[str, str] = {}
    for fk in table.foreign_key_constraints:
        target = fk.referred_table.name
        if target == "tenants":
            continue
        local = next(c.name for c in fk.columns if c.name != "tenant_id")
        fk_columns[local] = target
    for column in table.c:
        if column.name in values:
            continue
        if column.name in fk_columns:
            parent = build_row(session, BY_TABLE[fk_columns[column.name]], tenant_id)
            values[column.name] = parent.id
        elif not column.nullable and column.default is None and column.server_default is None:
            values[column.name] = _value_for(column)
    if model.__tablename__ == "audit_heads":  # type: ignore[attr-defined]
        values.pop("id", None)
        existing = session.scalar(select(model))  # one per tenant; creating the tenant made it
        if existing is not None:
            return existing
    row = model(**values)
    session.add(row)
    session.flush()
    return row


def _pk(row: Any) -> dict[str, Any]:
    return {c.name: getattr(row, c.name) for c in row.__table__.primary_key.columns}


@pytest.fixture
def two_tenants(db: Database) -> tuple[Database, Actor, Actor]:
    from harmonia.services.tenancy import create_tenant

    a, _ = create_tenant(db, "Alpha")
    b, _ = create_tenant(db, "Beta")
    return db, Actor(tenant_id=a.id, channel="system"), Actor(tenant_id=b.id, channel="system")


@pytest.mark.parametrize("model", TENANT_MODELS, ids=lambda m: m.__name__)
def test_a_tenant_cannot_read_update_or_delete_another_tenants_rows(model: type, two_tenants: Any) -> None:
    db, alpha, beta = two_tenants
    with db.unit_of_work(beta, write=True) as uow:
        foreign = build_row(uow.session, model, beta.tenant_id)
        foreign_pk = _pk(foreign)
    with db.unit_of_work(alpha, write=True) as uow:
        mine = build_row(uow.session, model, alpha.tenant_id)
        mine_pk = _pk(mine)

    pk_cols = list(model.__table__.primary_key.columns)  # type: ignore[attr-defined]
    by_foreign_key = [getattr(model, c.name) == foreign_pk[c.name] for c in pk_cols]  # names B explicitly
    with db.unit_of_work(alpha, write=True) as uow:
        s = uow.session
        visible = list(s.scalars(select(model)))
        assert [_pk(r) for r in visible if _pk(r) == foreign_pk] == []
        assert any(_pk(r) == mine_pk for r in visible)
        assert all(r.tenant_id == alpha.tenant_id for r in visible)
        assert s.scalar(select(func.count()).select_from(model).where(*by_foreign_key)) == 0
        assert s.get(model, tuple(foreign_pk[c.name] for c in pk_cols)) is None
        assert s.execute(update(model).where(*by_foreign_key).values(tenant_id=alpha.tenant_id)).rowcount == 0
        assert s.execute(delete(model).where(*by_foreign_key)).rowcount == 0
    with db.unit_of_work(beta, write=False) as uow:
        assert uow.session.scalar(select(func.count()).select_from(model).where(*by_foreign_key)) == 1


@pytest.mark.parametrize("model", TENANT_MODELS, ids=lambda m: m.__name__)
def test_a_tenant_cannot_insert_rows_into_another_tenant(model: type, two_tenants: Any) -> None:
    db, alpha, beta = two_tenants
    with pytest.raises(TenantIsolationError), db.unit_of_work(alpha, write=True) as uow:
        if model.__tablename__ == "audit_heads":  # type: ignore[attr-defined]
            uow.session.add(model(tenant_id=beta.tenant_id, seq=1, hash="0" * 64))
            uow.session.flush()
        build_row(uow.session, model, beta.tenant_id)
    values = {"tenant_id": beta.tenant_id, "id": new_id("tag")}
    with pytest.raises(TenantIsolationError), db.unit_of_work(alpha, write=True) as uow:
        uow.session.execute(insert(model), [values])


REFERENCING = [
    (cls, fk)
    for cls in TENANT_MODELS
    # a set in SQLAlchemy: sorted, so that every pytest-xdist worker collects the same tests in the same order
    for fk in sorted(cls.__table__.foreign_key_constraints, key=lambda fk: fk.referred_table.name)  # type: ignore[attr-defined]
    if fk.referred_table.name != "tenants"
]


@pytest.mark.parametrize(
    ("model", "fk"), REFERENCING, ids=lambda v: v.__name__ if isinstance(v, type) else v.referred_table.name
)
def test_a_row_cannot_reference_a_row_of_another_tenant(model: type, fk: Any, two_tenants: Any) -> None:
    db, alpha, beta = two_tenants
    target = BY_TABLE[fk.referred_table.name]
    local = next(c.name for c in fk.columns if c.name != "tenant_id")
    with db.unit_of_work(beta, write=True) as uow:
        foreign_parent_id = build_row(uow.session, target, beta.tenant_id).id
    with pytest.raises(IntegrityError), db.unit_of_work(alpha, write=True) as uow:
        row = build_row(uow.session, model, alpha.tenant_id)
        setattr(row, local, foreign_parent_id)
        uow.session.flush()


def test_every_tenant_table_keys_and_uniques_include_tenant_id() -> None:
    for cls in TENANT_MODELS:
        table = cls.__table__  # type: ignore[attr-defined]
        assert "tenant_id" in table.primary_key.columns, table.name
        for constraint in table.constraints:
            cols = {c.name for c in getattr(constraint, "columns", [])}
            if cols and constraint.__class__.__name__ in ("UniqueConstraint", "ForeignKeyConstraint"):
                assert "tenant_id" in cols, f"{table.name}: {constraint.name}"
        for index in table.indexes:
            if index.unique:
                assert "tenant_id" in {getattr(e, "name", None) for e in index.expressions}, index.name


def test_a_session_without_a_tenant_refuses_tenant_queries(db: Database) -> None:
    session = db._sessions()
    try:
        for model in TENANT_MODELS:
            with pytest.raises(TenantIsolationError):
                session.scalars(select(model)).all()
    finally:
        session.close()


# Tables above tenants, each with its reason written in its model: the root itself, the installation's own values
# such as the email-event webhook key (models/installation.py), and OAuth client registrations and codes, which exist
# before a workspace is chosen (models/oauth.py).
ABOVE_TENANTS = {"tenants", "installation", "oauth_clients", "oauth_codes"}


def test_isolation_contract_covers_every_table_but_the_tenants_root() -> None:
    tables = set(Base.metadata.tables)
    assert tables - {c.__tablename__ for c in TENANT_MODELS} == ABOVE_TENANTS


def test_selecting_core_columns_of_a_tenant_table_is_refused(two_tenants: Any) -> None:
    db, alpha, _ = two_tenants
    from harmonia.models import Contact

    with pytest.raises(TenantIsolationError), db.unit_of_work(alpha, write=False) as uow:
        uow.session.execute(select(Contact.__table__.c.email)).all()  # type: ignore[attr-defined]
