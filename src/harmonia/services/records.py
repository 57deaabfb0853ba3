"""Finding records by id inside the tenant, with errors that tell the caller what went wrong."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import bindparam, select

from ..db import UnitOfWork
from ..errors import InvalidArguments, NotFound
from ..ids import kind_of
from ..models import Account, Contact, Lender, Opportunity, User
from ..queries import TENANT, QueryFamily
from ..record_types import RECORD_TYPES, label

__all__ = ["apply_changes", "assign", "get_or_404", "label", "names_of", "not_found", "snapshot"]

T = TypeVar("T")


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


def assign(uow: UnitOfWork, record_type: str, record_id: str, user_id: str) -> tuple[str, str | None, User]:
    """Make an active user the owner (or assignee) of a record. Returns (the field set, its previous value, user)."""
    kind = RECORD_TYPES[record_type]
    if kind.assign_field is None:
        raise InvalidArguments(f"{kind.label} has no owner or assignee")
    row = get_or_404(uow, kind.model, record_id, record_type, field="record_id")
    user = get_or_404(uow, User, user_id, "user")
    if user.status != "active":
        raise InvalidArguments(f"{user.name} is {user.status}; assign an active user (users_list shows them)")
    before = getattr(row, kind.assign_field)
    setattr(row, kind.assign_field, user.id)
    return kind.assign_field, before, user


# What a record is called, by id prefix: the pages that list deals or tasks name the contact, owner or deal of each row.
_NAMED: dict[str, tuple[Any, tuple[str, ...]]] = {
    "ct": (Contact, ("first_name", "last_name", "email", "phone")),
    "op": (Opportunity, ("name",)),
    "ac": (Account, ("name",)),
    "us": (User, ("name",)),
    "ld": (Lender, ("name",)),
}
# A board asks for ~160 names at once on every view: compiled per (kind, how many ids), no ORM.
_NAMES = QueryFamily(
    lambda prefix, n: select(
        (table := _NAMED[prefix][0].__table__).c.id, *(table.c[f] for f in _NAMED[prefix][1])
    ).where(table.c.tenant_id == TENANT, table.c.id.in_([bindparam(f"i{k}") for k in range(n)]))
)


def names_of(uow: UnitOfWork, ids: list[str]) -> dict[str, str]:
    """{id: name} of the contacts, deals, accounts, users and lenders among `ids` in this tenant; other ids (unknown,
    another tenant's, another kind) are left out: one query per kind."""
    wanted: dict[str, list[str]] = {}
    for record_id in dict.fromkeys(ids):
        if record_id[:2] in _NAMED and record_id[2:3] == "_":
            wanted.setdefault(record_id[:2], []).append(record_id)
    names: dict[str, str] = {}
    for prefix, chosen in wanted.items():
        params = {f"i{k}": record_id for k, record_id in enumerate(chosen)}
        for row in _NAMES.get(prefix, len(chosen)).rows(uow, **params):
            if prefix == "ct":
                names[row[0]] = f"{row[1] or ''} {row[2] or ''}".strip() or row[3] or row[4] or row[0]
            else:
                names[row[0]] = row[1]
    return names
