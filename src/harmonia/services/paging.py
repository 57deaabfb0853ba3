"""Keyset paging with opaque cursors: stable under inserts, index-friendly at any depth (no OFFSET).

One implementation (`Keyset`: the order, the "after this row" condition, reading a cursor; `cut`: the page and the
next cursor) behind two front ends: `page()` for ORM selects and `Listing` for compiled queries. Ranked lists that
are computed per call (search, the lender match) page by position (`decode_offset`). Every list refuses a cursor it
did not write with the same message: a garbled cursor never silently restarts at the first page."""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import ColumnElement, DateTime, Integer, Select, String, and_, bindparam, or_, select
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.types import TypeEngine

from ..db import UnitOfWork
from ..errors import InvalidArguments
from ..queries import TENANT, QueryFamily

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "Keyset",
    "Listing",
    "at_least",
    "at_most",
    "clamp_limit",
    "cut",
    "decode_cursor",
    "decode_offset",
    "encode_cursor",
    "eq",
    "named",
    "page",
    "with_names",
]

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
T = TypeVar("T")


def encode_cursor(values: Sequence[Any]) -> str:
    raw = orjson.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


MAX_CURSOR = 1_000  # characters; a real cursor is under 120
_BAD_CURSOR = (
    "cursor is not valid for this list; pass back the `next_cursor` of the previous page unchanged, "
    "or omit it to start from the first page"
)


def decode_cursor(cursor: str, n: int) -> list[Any]:
    """The `n` values of a cursor, each a short string or a finite number — or the one clear refusal, whatever was
    forged (not base64, not JSON, the wrong shape, nested values, NUL characters, huge)."""
    try:
        if len(cursor) > MAX_CURSOR:
            raise ValueError
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != n or not all(_plain(v) for v in values):
            raise ValueError
        return values
    except Exception:
        raise InvalidArguments(_BAD_CURSOR) from None


def _plain(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= 300 and "\x00" not in value
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and abs(value) < 2**62
    )


def _keyset(cursor: str, column_type: Any) -> tuple[Any, str]:
    """(last sort value, last id) of a cursor, the sort value of the type its column compares with: a date-time for
    a date-time column (aware, UTC when the cursor had no offset), text for text, a number otherwise."""
    last, last_id = decode_cursor(cursor, 2)
    impl = getattr(column_type, "impl", column_type)
    impl = impl if isinstance(impl, TypeEngine) else impl()
    try:
        if not isinstance(last_id, str):
            raise ValueError
        if isinstance(impl, DateTime):
            if not isinstance(last, str):
                raise ValueError
            last = datetime.fromisoformat(last)
            last = last if last.tzinfo else last.replace(tzinfo=UTC)
        elif isinstance(impl, String):
            if not isinstance(last, str):
                raise ValueError
        elif not isinstance(last, int | float):
            raise ValueError
    except ValueError:
        raise InvalidArguments(_BAD_CURSOR) from None
    return last, last_id


def decode_offset(cursor: str | None) -> int:
    """The position a ranked list resumes at (search, the lender match: pages of a ranking computed per call).
    A garbled cursor is refused like any other, never read as "start again"."""
    if not cursor:
        return 0
    if not re.fullmatch(r"[0-9]{1,9}", cursor):
        decode_cursor("", 1)  # the one refusal every list gives a cursor it did not write
    return int(cursor)


def clamp_limit(limit: int | None) -> int:
    return min(max(limit or DEFAULT_LIMIT, 1), MAX_LIMIT)


class Keyset:
    """The one keyset implementation: order by (sort, id) and resume after the last row a cursor names. `page()`
    runs it on ORM selects, `Listing` on compiled queries; both cut pages and write cursors with `cut()`."""

    def __init__(self, sort: Any, tiebreak: Any, *, descending: bool) -> None:
        self.sort, self.tiebreak, self.descending = sort, tiebreak, descending

    def after(self, last: Any, last_id: Any) -> ColumnElement[bool]:
        key, tie = self.sort, self.tiebreak
        if self.descending:
            return or_(key < last, and_(key == last, tie < last_id))
        return or_(key > last, and_(key == last, tie > last_id))

    def order(self) -> tuple[Any, Any]:
        if self.descending:
            return self.sort.desc(), self.tiebreak.desc()
        return self.sort.asc(), self.tiebreak.asc()

    def resume(self, cursor: str) -> tuple[Any, Any]:
        """(sort value, id) of the row a cursor was written after, each of the type its column compares with; a
        garbled or forged cursor is refused."""
        return _keyset(cursor, self.sort.type)


def cut(rows: list[T], limit: int, key: Callable[[T], Sequence[Any]]) -> tuple[list[T], str | None]:
    """`rows` fetched as limit + 1: the page, and the cursor of the next one (None at the end)."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(key(rows[-1]))


def page(
    session: Any,
    stmt: Select[Any],
    *,
    sort: InstrumentedAttribute[Any],
    tiebreak: InstrumentedAttribute[Any],
    descending: bool = True,
    limit: int | None,
    cursor: str | None,
    key: Callable[[Any], tuple[Any, Any]] | None = None,
) -> tuple[list[Any], str | None]:
    """Run ORM `stmt` ordered by (sort, tiebreak), one page at a time. Returns (rows, next_cursor)."""
    limit = clamp_limit(limit)
    keyset = Keyset(sort, tiebreak, descending=descending)
    if cursor:
        stmt = stmt.where(keyset.after(*keyset.resume(cursor)))
    rows = list(session.scalars(stmt.order_by(*keyset.order()).limit(limit + 1)))
    return cut(rows, limit, key or (lambda r: (getattr(r, sort.key), getattr(r, tiebreak.key))))


def _is_datetime(column: Any) -> bool:
    column_type = getattr(column, "type", None)
    return isinstance(getattr(column_type, "impl", column_type), DateTime)


Condition = Callable[[Any, BindParameter[Any]], ColumnElement[bool]]


def eq(column: str) -> Condition:
    return lambda c, p: c[column] == p


def at_least(column: str) -> Condition:
    return lambda c, p: c[column] >= p


def at_most(column: str) -> Condition:
    return lambda c, p: c[column] <= p


@dataclass(frozen=True)
class Named:
    """Columns of a record another one points at, read in the same statement (a LEFT JOIN on the tenant and the id):
    "owner_id" comes with "owner_name", so a model never makes a second call to learn who a record belongs to."""

    table: Any
    via: str  # the pointing column, e.g. "owner_id"
    columns: tuple[tuple[str, str], ...]  # (label in the row, column of `table`)

    def join(self, left: Any, base: Any) -> Any:
        t = self.table
        return left.outerjoin(t, (t.c.tenant_id == TENANT) & (t.c.id == base.c[self.via]))

    def selected(self) -> list[Any]:
        return [self.table.c[column].label(label) for label, column in self.columns]


def named(table: Any, via: str, **columns: str) -> Named:
    """`named(User.__table__, "owner_id", owner_name="name")`: the owner's name beside the owner's id."""
    return Named(table, via, tuple(columns.items()))


def with_names(stmt: Select[Any], base: Any, names: Sequence[Named], *, source: Any = None) -> Select[Any]:
    """`stmt` over `base` (or over `source`, a join that holds `base`) with the columns of `names` added, joined in
    the same statement (one table once each: the compiled queries' tenant wall refuses aliases)."""
    if not names:
        return stmt
    source = base if source is None else source
    for n in names:
        source = n.join(source, base)
    return stmt.add_columns(*(col for n in names for col in n.selected())).select_from(source)


class Listing:
    """A keyset-paged list over one tenant table on compiled queries (harmonia.queries): the hot `*_list` tools.

    `filters` maps an argument name to the condition it adds, given the table's columns and a bound parameter of that
    name; a filter whose value is None is left out. `sorts` maps a sort name to (column, descending); `id` breaks
    ties. `names` adds the names of the records the rows point at (owner, contact, account…) in the same statement.
    One statement is compiled per shape (filters present, sort, first page or not) and reused."""

    def __init__(
        self,
        table: Any,
        columns: Sequence[str],
        filters: Mapping[str, Condition],
        sorts: Mapping[str, tuple[str, bool]],
        names: Sequence[Named] = (),
    ) -> None:
        self.table, self.columns, self.filters, self.sorts = table, tuple(columns), dict(filters), dict(sorts)
        self.names = tuple(names)
        self._family = QueryFamily(self._statement)

    def _statement(self, present: tuple[str, ...], sort: str, after: bool) -> Select[Any]:
        c = self.table.c
        stmt = with_names(select(*(c[k] for k in self.columns)), self.table, self.names).where(c.tenant_id == TENANT)
        for name in present:
            stmt = stmt.where(self.filters[name](c, bindparam(name)))  # compared with a column, it takes its type
        column, descending = self.sorts[sort]
        keyset = Keyset(c[column], c.id, descending=descending)
        if after:
            last, last_id = bindparam("after_sort", type_=c[column].type), bindparam("after_id", type_=c.id.type)
            stmt = stmt.where(keyset.after(last, last_id))
        return stmt.order_by(*keyset.order()).limit(bindparam("page_size", type_=Integer()))

    def page(
        self, uow: UnitOfWork, values: Mapping[str, Any], *, sort: str, limit: int | None, cursor: str | None
    ) -> tuple[list[Any], str | None]:
        """One page of rows (named tuples of `columns`) and the cursor of the next page, or None at the end."""
        limit = clamp_limit(limit)
        params = {k: v for k, v in values.items() if v is not None}
        column, descending = self.sorts[sort]
        if cursor:
            last, last_id = Keyset(self.table.c[column], self.table.c.id, descending=descending).resume(cursor)
            params |= {"after_sort": last, "after_id": last_id}
        query = self._family.get(tuple(sorted(k for k in params if k in self.filters)), sort, bool(cursor))
        return cut(query.rows(uow, page_size=limit + 1, **params), limit, lambda r: (getattr(r, column), r.id))
