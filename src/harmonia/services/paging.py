"""Keyset paging with opaque cursors: stable under inserts, index-friendly at any depth (no OFFSET)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import DateTime, Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from ..errors import InvalidArguments

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "decode_cursor", "encode_cursor", "page"]

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
T = TypeVar("T")


def encode_cursor(values: Sequence[Any]) -> str:
    raw = orjson.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, n: int) -> list[Any]:
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != n:
            raise ValueError
        return values
    except Exception:
        raise InvalidArguments(
            "cursor is not valid for this list; pass back the `next_cursor` of the previous page unchanged, "
            "or omit it to start from the first page"
        ) from None


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
    """Run `stmt` ordered by (sort, tiebreak), one page at a time. Returns (rows, next_cursor)."""
    limit = min(max(limit or DEFAULT_LIMIT, 1), MAX_LIMIT)
    if cursor:
        last_sort, last_id = decode_cursor(cursor, 2)
        if isinstance(last_sort, str) and _is_datetime_column(sort):
            last_sort = datetime.fromisoformat(last_sort)
        if descending:
            cond = or_(sort < last_sort, and_(sort == last_sort, tiebreak < last_id))
        else:
            cond = or_(sort > last_sort, and_(sort == last_sort, tiebreak > last_id))
        stmt = stmt.where(cond)
    order = (sort.desc(), tiebreak.desc()) if descending else (sort.asc(), tiebreak.asc())
    rows = list(session.scalars(stmt.order_by(*order).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        values = key(last) if key else (getattr(last, sort.key), getattr(last, tiebreak.key))
        next_cursor = encode_cursor(values)
    return rows, next_cursor


def _is_datetime_column(attr: InstrumentedAttribute[Any]) -> bool:
    column_type = getattr(attr, "type", None)
    return isinstance(getattr(column_type, "impl", column_type), DateTime)
