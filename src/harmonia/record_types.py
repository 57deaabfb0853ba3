"""The record types, declared once: which model holds each, its id prefix, how an error names it, and what can be
done to it — tagged, assigned, linked to by tasks and notes, searched, shown as a timeline.

Why one table: these facts were lists repeated in half a dozen modules (tags, assign, tasks and notes, search, the
full-text index, the timeline, error wording), and a new record type meant finding them all. Now a new record type
is one `RecordType(...)` line here (plus its model, migration and, if searchable, its index source in fulltext.py),
and every operation's argument enum, every check and every message follows.

Usable from every layer (like ids.py): it names models but runs no query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from . import models
from .ids import PREFIXES

__all__ = [
    "ASSIGNABLE",
    "LINKABLE",
    "RECORD_TYPES",
    "SEARCHABLE",
    "TAGGABLE",
    "TIMELINES",
    "Assignable",
    "Linkable",
    "RecordType",
    "Searchable",
    "Taggable",
    "TimelineKind",
    "label",
    "record_type",
]


@dataclass(frozen=True)
class RecordType:
    name: str  # "opportunity": the word in record_type arguments, audit targets and ids.PREFIXES
    model: type[Any]
    article: str = "a"  # "an opportunity id"
    taggable: bool = False  # tags_apply, `tags` filters
    assign_field: str | None = None  # records_assign sets this column (owner_id, assignee_id)
    linkable: bool = False  # tasks and notes may be attached to it (record_type/record_id)
    search_letter: str | None = None  # searchable: the letter of its full-text terms (fulltext.tag)
    timeline: bool = False  # records_timeline shows its history

    @property
    def prefix(self) -> str:
        return PREFIXES[self.name]

    @property
    def label(self) -> str:
        return f"{self.article} {self.name.replace('_', ' ')}"


_ALL = (
    RecordType(name="contact", model=models.Contact, taggable=True, assign_field="owner_id", linkable=True,
               search_letter="c", timeline=True),
    RecordType(name="account", model=models.Account, article="an", taggable=True, assign_field="owner_id",
               linkable=True, search_letter="a"),
    RecordType(name="opportunity", model=models.Opportunity, article="an", taggable=True, assign_field="owner_id",
               linkable=True, search_letter="o", timeline=True),
    RecordType(name="task", model=models.Task, assign_field="assignee_id"),
    RecordType(name="conversation", model=models.Conversation, assign_field="assignee_id"),
    RecordType(name="note", model=models.Note, search_letter="n"),
    RecordType(name="message", model=models.Message, search_letter="m"),
    RecordType(name="event", model=models.Event, article="an"),
    RecordType(name="user", model=models.User),
    RecordType(name="access_token", model=models.AccessToken, article="an"),
    RecordType(name="lender", model=models.Lender),
)  # fmt: skip
RECORD_TYPES: dict[str, RecordType] = {t.name: t for t in _ALL}


def _names(keep: Callable[[RecordType], object]) -> tuple[str, ...]:
    return tuple(t.name for t in _ALL if keep(t))


TAGGABLE = _names(lambda t: t.taggable)
ASSIGNABLE = _names(lambda t: t.assign_field)
LINKABLE = _names(lambda t: t.linkable)
SEARCHABLE = _names(lambda t: t.search_letter)
TIMELINES = _names(lambda t: t.timeline)

# Argument types for operations' inputs: the enum a schema shows is the registry's list, in its order.
if TYPE_CHECKING:
    Taggable: TypeAlias = str
    Assignable: TypeAlias = str
    Linkable: TypeAlias = str
    Searchable: TypeAlias = str
    TimelineKind: TypeAlias = str
else:
    Taggable, Assignable, Linkable = Literal[TAGGABLE], Literal[ASSIGNABLE], Literal[LINKABLE]
    Searchable, TimelineKind = Literal[SEARCHABLE], Literal[TIMELINES]


def record_type(name: str) -> RecordType:
    return RECORD_TYPES[name]


def label(kind: str) -> str:
    """ "an opportunity", "a contact": how an error names a kind of record (any kind ids.PREFIXES knows)."""
    known = RECORD_TYPES.get(kind)
    return known.label if known else f"a {kind.replace('_', ' ')}"
