"""Tags: unique per tenant case-insensitively; an unknown tag is refused unless the caller asks to create it, and a
near-duplicate ("lead" vs "leads") is named in the refusal."""

from __future__ import annotations

import difflib
import re

from sqlalchemy import bindparam, delete, func, select

from ..db import UnitOfWork
from ..errors import Conflict, InvalidArguments, NotFound
from ..ids import new_id
from ..models import Tag, Tagging
from ..queries import TENANT, Query, QueryFamily
from ..record_types import RECORD_TYPES, TAGGABLE
from .records import get_or_404

__all__ = ["apply", "names_for", "names_of", "resolve", "retag", "tag_ids_for_names"]

_TAG_RE = re.compile(r"^[\w][\w \-/&.+]{0,63}$")


def _norm(name: str) -> str:
    return re.sub(r"\s+", " ", name.strip())


def _near(a: str, b: str) -> bool:
    a, b = a.lower(), b.lower()
    if a.rstrip("s") == b.rstrip("s"):
        return True
    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.85


def resolve(uow: UnitOfWork, names: list[str], *, create: bool) -> list[Tag]:
    """The Tag rows for `names`. Missing tags are created only when `create` is true and no near-duplicate exists."""
    existing = list(uow.session.scalars(select(Tag)))
    by_lower = {t.name.lower(): t for t in existing}
    out: list[Tag] = []
    for raw in names:
        name = _norm(raw)
        if not _TAG_RE.match(name):
            raise InvalidArguments(f"tag {raw!r} is not a valid tag name (letters, digits, spaces, - / & . +; ≤64)")
        tag = by_lower.get(name.lower())
        if tag is None:
            near = sorted(t.name for t in existing if _near(t.name, name))
            if near:
                raise Conflict(
                    f"tag {name!r} does not exist, but {', '.join(repr(n) for n in near)} does; "
                    "use the existing tag, or pass create_missing=true only if a new, different tag is really meant",
                    similar=near,
                )
            if not create:
                known = ", ".join(sorted(t.name for t in existing)[:30]) or "none yet"
                raise NotFound(
                    f"tag {name!r} does not exist (tags are: {known}); pass create_missing=true to create it"
                )
            tag = Tag(id=new_id("tag"), name=name)
            uow.session.add(tag)
            existing.append(tag)
            by_lower[name.lower()] = tag
        if tag not in out:
            out.append(tag)
    return out


def retag(
    uow: UnitOfWork, record_type: str, record_id: str, *, add: list[str], remove: list[str], create: bool
) -> tuple[list[str], list[str]]:
    """tags_apply: the record's tags before and after adding and removing some. The record must exist here."""
    if not add and not remove:
        raise InvalidArguments("give tags to `add` and/or `remove`")
    if record_type not in TAGGABLE:
        raise InvalidArguments(f"record_type must be one of {', '.join(TAGGABLE)}")
    get_or_404(uow, RECORD_TYPES[record_type].model, record_id, record_type, field="record_id")
    before = names_for(uow, record_type, [record_id]).get(record_id, [])
    return before, apply(uow, record_type, record_id, add=add, remove=remove, create=create)


def apply(
    uow: UnitOfWork, record_type: str, record_id: str, *, add: list[str], remove: list[str], create: bool
) -> list[str]:
    if record_type not in TAGGABLE:
        raise InvalidArguments(f"record_type must be one of {', '.join(TAGGABLE)}")
    session = uow.session
    if add:
        have = set(
            session.scalars(
                select(Tagging.tag_id).where(Tagging.record_type == record_type, Tagging.record_id == record_id)
            )
        )
        for tag in resolve(uow, add, create=create):
            if tag.id not in have:
                session.add(Tagging(id=new_id("tag"), tag_id=tag.id, record_type=record_type, record_id=record_id))
                have.add(tag.id)
                uow.emit("tag_applied", subject=(record_type, record_id), record_type=record_type,
                         record_id=record_id, tag=tag.name)  # fmt: skip
    if remove:
        lowered = [_norm(n).lower() for n in remove]
        ids = list(session.scalars(select(Tag.id).where(func.lower(Tag.name).in_(lowered))))
        if ids:
            session.execute(
                delete(Tagging).where(
                    Tagging.record_type == record_type, Tagging.record_id == record_id, Tagging.tag_id.in_(ids)
                )
            )
    session.flush()
    return names_for(uow, record_type, [record_id]).get(record_id, [])


_G, _TAGS = Tagging.__table__.c, Tag.__table__.c
_NAMES_OF = Query(
    select(_TAGS.name)
    .join_from(Tagging.__table__, Tag.__table__, (_TAGS.tenant_id == _G.tenant_id) & (_TAGS.id == _G.tag_id))
    .where(
        _G.tenant_id == TENANT,
        _TAGS.tenant_id == TENANT,
        _G.record_type == bindparam("record_type"),
        _G.record_id == bindparam("record_id"),
    )
    .order_by(_TAGS.name)
)


_NAMES_FOR = QueryFamily(
    lambda n: (
        select(_G.record_id, _TAGS.name)
        .join_from(Tagging.__table__, Tag.__table__, (_TAGS.tenant_id == _G.tenant_id) & (_TAGS.id == _G.tag_id))
        .where(
            _G.tenant_id == TENANT,
            _TAGS.tenant_id == TENANT,
            _G.record_type == bindparam("record_type"),
            _G.record_id.in_([bindparam(f"r{i}") for i in range(n)]),
        )
        .order_by(_TAGS.name)
    )
)


def names_for(uow: UnitOfWork, record_type: str, record_ids: list[str]) -> dict[str, list[str]]:
    """Tag names per record, for rendering a page of records with one query."""
    ids = list(dict.fromkeys(record_ids))
    if not ids:
        return {}
    out: dict[str, list[str]] = {}
    params = {f"r{i}": record_id for i, record_id in enumerate(ids)}
    for row in _NAMES_FOR.get(len(ids)).rows(uow, record_type=record_type, **params):
        out.setdefault(row.record_id, []).append(row.name)
    return out


def names_of(uow: UnitOfWork, record_type: str, record_id: str) -> list[str]:
    """Tag names of one record (a compiled query: the hot `*_get` tools call it)."""
    return [r.name for r in _NAMES_OF.rows(uow, record_type=record_type, record_id=record_id)]


def tag_ids_for_names(uow: UnitOfWork, names: list[str]) -> list[str]:
    """For filters: unknown tag names are an error that lists what exists, never an empty result."""
    tags = list(uow.session.scalars(select(Tag)))
    by_lower = {t.name.lower(): t.id for t in tags}
    missing = [n for n in names if _norm(n).lower() not in by_lower]
    if missing:
        known = ", ".join(sorted(t.name for t in tags)[:30]) or "none yet"
        raise NotFound(f"unknown tag(s) {', '.join(repr(m) for m in missing)}; tags are: {known}")
    return [by_lower[_norm(n).lower()] for n in names]
