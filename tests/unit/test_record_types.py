"""The record-type registry is the one list: the search index, the id prefixes and the operations' argument enums all
agree with it, so a record type added there is added everywhere."""

from __future__ import annotations

from typing import get_args

from harmonia import fulltext
from harmonia.ids import PREFIXES
from harmonia.ops import build_registry
from harmonia.record_types import ASSIGNABLE, LINKABLE, RECORD_TYPES, SEARCHABLE, TAGGABLE, TIMELINES, label


def _enum(tool: str, field: str) -> tuple[str, ...]:
    op = build_registry().get(tool)
    assert op is not None
    annotation = op.input.model_fields[field].annotation
    while not all(isinstance(a, str) for a in get_args(annotation)):  # unwrap `X | None`, `list[X]`
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    return get_args(annotation)


def test_every_searchable_record_type_has_an_index_source_and_a_letter_of_its_own() -> None:
    assert set(fulltext.SOURCES) == set(SEARCHABLE) == set(fulltext.KIND_LETTERS)
    assert len(set(fulltext.KIND_LETTERS.values())) == len(SEARCHABLE)


def test_every_record_type_has_an_id_prefix_and_an_assign_field_its_model_has() -> None:
    for kind in RECORD_TYPES.values():
        assert kind.prefix == PREFIXES[kind.name]
        if kind.assign_field:
            assert kind.assign_field in kind.model.__table__.c


def test_the_operations_take_exactly_the_registrys_record_types() -> None:
    assert _enum("tags_apply", "record_type") == TAGGABLE == ("contact", "account", "opportunity")
    assert _enum("records_assign", "record_type") == ASSIGNABLE
    assert _enum("tasks_create", "record_type") == _enum("notes_list", "record_type") == LINKABLE
    assert _enum("search", "types") == SEARCHABLE
    assert _enum("records_timeline", "record_type") == TIMELINES == ("contact", "opportunity")


def test_an_error_names_a_record_type_with_its_article() -> None:
    assert (label("opportunity"), label("contact"), label("access_token")) == ("an opportunity", "a contact",
                                                                              "an access token")  # fmt: skip
    assert label("cashflow_month") == "a cashflow month"  # a kind without a record type of its own
