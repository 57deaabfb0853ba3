"""Finding records by id inside the tenant, with errors that tell the caller what went wrong."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select

from ..db import UnitOfWork
from ..errors import NotFound
from ..ids import kind_of

__all__ = ["apply_changes", "get_or_404", "label", "not_found", "snapshot"]

T = TypeVar("T")

_ARTICLE = {"account": "an", "opportunity": "an", "event": "an", "access_token": "an"}


def label(kind: str) -> str:
    return f"{_ARTICLE.get(kind, 'a')} {kind.replace('_', ' ')}"


def get_or_404(uow: UnitOfWork, model: type[T], record_id: str, kind: str, *, field: str | None = None) -> T:
    """The row of `model` with this id in the current tenant. A row of another tenant is "not found", exactly."""
    row: Any = uow.session.scalar(select(model).where(model.id == record_id))  # type: ignore[attr-defined,arg-type]
    if row is not None:
        return row  # type: ignore[no-any-return]
    raise not_found(record_id, kind, field=field)


def not_found(record_id: str, kind: str, *, field: str | None = None) -> NotFound:
    """The error for an id that names no `kind` in this tenant (one of another tenant included, word for word)."""
    arg = field or f"{kind}_id"
    actual = kind_of(record_id) if isinstance(record_id, str) else None
    if actual and actual != kind:
        return NotFound(f"{arg} {record_id!r} is {label(actual)} id, not {label(kind)} id", field=arg)
    return NotFound(
        f"no {kind.replace('_', ' ')} with id {record_id!r}; list or search to find the right id", field=arg
    )


def apply_changes(row: Any, changes: dict[str, Any]) -> dict[str, Any]:
    """Set the fields that differ; return their previous values (the audited "before")."""
    before = {k: getattr(row, k) for k, v in changes.items() if getattr(row, k) != v}
    for key in before:
        setattr(row, key, changes[key])
    return before


def snapshot(row: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """The audited before/after of a change: only the named fields."""
    return {f: getattr(row, f) for f in fields}
