"""Hot read paths: Core statements compiled once per dialect and run on the unit of work's DB-API connection.

Why: an ORM select costs 200–400 µs of Python here (statement building, the tenant criteria option, cache-key
generation, entity loading) against 20–30 µs for the same indexed query on the driver; a tool such as
`contacts_get` runs six of them. `Query` keeps what the ORM gives that matters — the statement is built with
SQLAlchemy Core from the models' tables, compiled for the dialect in use (SQLite or PostgreSQL), and the models'
column types convert values both ways (UTC datetimes, money in cents, JSON) — and drops the per-call rest.

The tenant wall holds here too, by construction rather than by a hook:
- every tenant table a statement names must be constrained by `<table>.tenant_id == TENANT` somewhere in it,
  checked when the statement is first compiled (a statement that misses one is refused: fail closed), and aliases of
  tenant tables are refused (the check could not tell which occurrence is constrained);
- the `tenant_id` value is bound by the unit of work from its actor, never by the caller;
- on PostgreSQL the connection runs the same `set_config('app.tenant_id', …)` as every unit of work, so row-level
  security is the second wall as everywhere else.
"""

from __future__ import annotations

import threading
from collections import namedtuple
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Select, String, bindparam, literal_column, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, ColumnClause
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import Alias, TableClause
from sqlalchemy.types import TypeDecorator

from .db import TenantIsolationError, UnitOfWork, tenant_table_names

__all__ = ["TENANT", "Query", "QueryFamily", "json_fields", "json_rows", "parse_instant"]

TENANT: BindParameter[Any] = bindparam("tenant_id")


@dataclass
class _Compiled:
    sql: str
    positional: tuple[str, ...] | None  # bind names in order (qmark), or None for named parameters
    static: dict[str, Any]  # literal values of the statement, already converted for the driver
    binds: dict[str, Callable[[Any], Any] | None]  # caller parameters and their converters
    columns: list[Any]
    row: Any  # a namedtuple class
    # Set at the first execution: some drivers' converters depend on the type the server reports (psycopg's floats).
    results: tuple[Callable[[Any], Any] | None, ...] | None = None


class Query:
    """A read statement over tenant tables. `rows(uow, **params)` returns named tuples with converted values."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def rows(self, uow: UnitOfWork, **params: Any) -> list[Any]:
        if "tenant_id" in params:
            raise TenantIsolationError("the tenant of a query comes from the unit of work, never from its caller")
        dialect = uow.db.engine.dialect
        compiled = self._compiled.get(dialect.name) or self._compile(dialect)
        values = dict(compiled.static)
        values["tenant_id"] = uow.tenant_id
        for name, convert in compiled.binds.items():
            value = params[name]
            values[name] = convert(value) if convert is not None and value is not None else value
        args: Any = tuple(values[n] for n in compiled.positional) if compiled.positional is not None else values
        raw, description = uow.execute_driver(compiled.sql, args)
        results = compiled.results
        if results is None:
            results = compiled.results = tuple(
                _result_processor(c.type, dialect, d[1]) for c, d in zip(compiled.columns, description, strict=True)
            )
        make = compiled.row._make
        return [make([v if f is None or v is None else f(v) for f, v in zip(results, r, strict=True)]) for r in raw]

    def first(self, uow: UnitOfWork, **params: Any) -> Any | None:
        found = self.rows(uow, **params)
        return found[0] if found else None

    def _compile(self, dialect: Dialect) -> _Compiled:
        with self._lock:
            if dialect.name in self._compiled:
                return self._compiled[dialect.name]
            _check_tenant_wall(self.statement)
            compiled = self.statement.compile(dialect=dialect)
            static: dict[str, Any] = {}
            binds: dict[str, Callable[[Any], Any] | None] = {}
            for name, bind in compiled.binds.items():
                if name == "tenant_id":
                    continue
                if bind.expanding:
                    raise ValueError(f"{name}: IN-lists are not supported here; use a subquery")
                convert = bind.type._cached_bind_processor(dialect)
                if bind.required or bind.callable is not None:
                    binds[name] = convert
                else:
                    value = bind.effective_value
                    static[name] = convert(value) if convert is not None and value is not None else value
            columns = list(self.statement.selected_columns)
            row = namedtuple("Row", [c.key for c in columns])  # type: ignore[misc]
            positional = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
            done = _Compiled(compiled.string, positional, static, binds, columns, row)
            self._compiled[dialect.name] = done
            return done


def _result_processor(type_: Any, dialect: Dialect, driver_type: Any) -> Callable[[Any], Any] | None:
    """The model type's own one-step converter when it has one (UTC times, money), else SQLAlchemy's."""
    fast = getattr(type_, "driver_result_processor", None)
    if fast is not None:
        return fast(dialect)  # type: ignore[no-any-return]
    return type_._cached_result_processor(dialect, driver_type)  # type: ignore[no-any-return]


class QueryFamily:
    """Compiled queries whose statement depends on a hashable shape — which filters a list call uses, how many ids
    it names — built once per shape. Shapes are few (filters present × sorts × cursor or not), so the cache is too."""

    def __init__(self, build: Callable[..., Select[Any]]) -> None:
        self._build = build
        self._queries: dict[Hashable, Query] = {}
        self._lock = threading.Lock()

    def get(self, *shape: Hashable) -> Query:
        found = self._queries.get(shape)
        if found is None:
            with self._lock:
                found = self._queries.get(shape) or Query(self._build(*shape))
                self._queries[shape] = found
        return found


def _check_tenant_wall(statement: Select[Any]) -> None:
    tenant_tables = tenant_table_names()
    named: set[TableClause] = set()
    constrained: set[TableClause] = set()
    for element in visitors.iterate(statement):
        if isinstance(element, Alias) and isinstance(element.element, TableClause):
            if element.element.name in tenant_tables:
                raise TenantIsolationError(f"alias of tenant table {element.element.name!r} in a fast query")
        elif isinstance(element, TableClause) and element.name in tenant_tables:
            named.add(element)
        elif isinstance(element, BinaryExpression) and element.operator is operators.eq:
            left, right = element.left, element.right
            if isinstance(left, BindParameter):
                left, right = right, left
            if (
                isinstance(left, ColumnClause)
                and left.name == "tenant_id"
                and isinstance(right, BindParameter)
                and right.key == TENANT.key
                and isinstance(left.table, TableClause)
            ):
                constrained.add(left.table)
    missing = sorted(t.name for t in named - constrained)
    if missing:
        raise TenantIsolationError(f"fast query names tenant table(s) {missing} without `tenant_id == TENANT`")


# --- related rows inside one statement ---------------------------------------------------------------------------
# A record and its related lists (a contact's deals, notes, tasks…) as ONE statement: each list is a scalar subquery
# that aggregates its rows into a JSON array. One round trip instead of six to eight, and at 1M rows fewer separate
# index descents (the gets grew 1.4-1.5x from 10k to 1M with one statement per list). The same statement compiles on
# both databases: `json_object`/`json_group_array` on SQLite, `json_build_object`/`json_agg` on PostgreSQL.
# Inside the JSON, values are the database's own: a UTC time is naive ISO text (`parse_instant`), money is cents.


class _JsonList(TypeDecorator[Any]):
    """A JSON array from an aggregate: SQLite hands back its text, psycopg the parsed list; None when no rows
    (PostgreSQL's json_agg over nothing)."""

    impl = String
    cache_ok = True

    def driver_result_processor(self, dialect: Dialect) -> Any:
        return lambda v: orjson.loads(v) if isinstance(v, str | bytes) else v


class json_object(FunctionElement[Any]):
    name = "json_object"
    inherit_cache = True


class json_array_agg(FunctionElement[Any]):
    name = "json_group_array"
    type = _JsonList()
    inherit_cache = True


@compiles(json_object)
def _json_object_sqlite(element: json_object, compiler: Any, **kw: Any) -> str:
    return f"json_object({compiler.process(element.clauses, **kw)})"


@compiles(json_object, "postgresql")
def _json_object_pg(element: json_object, compiler: Any, **kw: Any) -> str:
    return f"json_build_object({compiler.process(element.clauses, **kw)})"


@compiles(json_array_agg)
def _json_array_agg_sqlite(element: json_array_agg, compiler: Any, **kw: Any) -> str:
    # json(): a JSON value read back from a subquery's column has lost its JSON subtype; without it SQLite would
    # aggregate each object as a quoted string.
    return f"json_group_array(json({compiler.process(element.clauses, **kw)}))"


@compiles(json_array_agg, "postgresql")
def _json_array_agg_pg(element: json_array_agg, compiler: Any, **kw: Any) -> str:
    return f"json_agg({compiler.process(element.clauses, **kw)})"


def json_fields(**fields: Any) -> Any:
    """A JSON object of `fields` (key → column expression). Keys are this module's callers' constants, never input."""
    args: list[Any] = []
    for key, value in fields.items():
        if not key.replace("_", "").isalnum():
            raise ValueError(f"JSON key {key!r}")
        args += [literal_column(f"'{key}'"), value]
    return json_object(*args)


def json_rows(rows: Select[Any]) -> Any:
    """The rows of `rows` (a select of one JSON object column, ordered and limited as the list should be) as one
    JSON array value. `rows` must stand alone — bound parameters, not references to the outer statement — since it
    is a derived table."""
    inner = rows.subquery()
    return select(json_array_agg(inner.c[0])).scalar_subquery()


def parse_instant(value: str | None) -> datetime | None:
    """A UTC time as either database writes it inside JSON (`2026-11-20 10:00:00.000000` on SQLite,
    `2026-11-20T10:00:00.123456` on PostgreSQL), timezone-aware."""
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)
