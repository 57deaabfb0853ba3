"""Declarative base, column types, and the `TenantScoped` mixin every tenant row uses.

Every tenant table has the composite primary key `(tenant_id, id)`, and every foreign key between tenant tables is
composite `(tenant_id, x_id) → (tenant_id, id)`: a row can only ever point at rows of its own tenant, constraint
checks cannot be used as a cross-tenant oracle, and the layout is what Citus needs to shard by `tenant_id`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKeyConstraint, MetaData, String, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

__all__ = ["Base", "Json", "Money", "TenantOwned", "TenantScoped", "UTCDateTime", "tenant_fk", "utcnow"]

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC on every database; always handed back timezone-aware (UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a timezone first")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQLite rows written outside the ORM
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC)

    def driver_result_processor(self, dialect: Dialect) -> Any:
        """One step from the driver's value (SQLite text, PostgreSQL naive datetime) to aware UTC, for compiled
        queries: the generic chain (dialect parser, then `process_result_value`) is most of a list's cost."""
        if dialect.name == "sqlite":
            return lambda v: datetime.fromisoformat(v).replace(tzinfo=UTC)
        return lambda v: v.replace(tzinfo=UTC)


class Money(TypeDecorator[float]):
    """Dollars in the API, integer cents in the database: no float drift in sums, no Decimal warnings on SQLite."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: float | int | None, dialect: Dialect) -> int | None:
        return None if value is None else round(float(value) * 100)

    def process_result_value(self, value: int | None, dialect: Dialect) -> float | None:
        return None if value is None else value / 100

    def driver_result_processor(self, dialect: Dialect) -> Any:
        return lambda v: v / 100


class Json(TypeDecorator[Any]):
    """JSON on SQLite, JSONB on PostgreSQL."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            # Imported here: the PostgreSQL dialect is a tenth of a second that SQLite processes never need.
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class TenantOwned:
    """Mixin: a row that belongs to exactly one tenant. The data layer filters and stamps `tenant_id` itself."""

    tenant_id: Mapped[str] = mapped_column(String(24), primary_key=True, sort_order=-10)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
            *getattr(cls, "__extra_args__", ()),
        )


class TenantScoped(TenantOwned):
    """A tenant row with an id, timestamps and provenance: the shape of every CRM record."""

    id: Mapped[str] = mapped_column(String(24), primary_key=True, sort_order=-9)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, sort_order=90)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, sort_order=91)
    # Provenance, stamped by the data layer from the unit of work's actor: "did a person or the agent do this?"
    created_by: Mapped[str | None] = mapped_column(String(24), sort_order=92)  # user id
    created_via: Mapped[str | None] = mapped_column(String(16), sort_order=93)  # ui/api/mcp/workflow/cli/system
    created_client: Mapped[str | None] = mapped_column(String(80), sort_order=94)  # token name or AI client


def tenant_fk(column: str, target: str, ondelete: str | None = None) -> ForeignKeyConstraint:
    """A composite foreign key `(tenant_id, column) → target(tenant_id, id)`."""
    return ForeignKeyConstraint(["tenant_id", column], [f"{target}.tenant_id", f"{target}.id"], ondelete=ondelete)
