"""`search` as an operator's AI client uses it: prefixes of names, emails, phones written any way, company names;
only the caller's workspace; the index following every write; best matches first, pages that add up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text

from harmonia import bulk, fulltext
from harmonia.db import Database
from harmonia.errors import InvalidArguments
from harmonia.migrate import alembic_config

from ..conftest import Workspace


def hits(ws: Workspace, q: str, **kw: Any) -> list[tuple[str, str]]:
    return [(h["type"], h["id"]) for h in ws.call("search", q=q, **kw)["items"]]


def ids(ws: Workspace, q: str, **kw: Any) -> set[str]:
    return {rid for _, rid in hits(ws, q, **kw)}


@pytest.fixture
def rosa(acme: Workspace) -> dict[str, Any]:
    account = acme.call("accounts_upsert", name="Bluewater Trucking LLC", industry="Trucking")
    return acme.call("contacts_create", first_name="Rosalind", last_name="Okafor", email="rokafor@fastmail.example",
                     phone="+1 555-201-3344", account_id=account["id"])  # fmt: skip


def test_a_contact_is_found_by_the_start_of_a_name_an_email_or_its_company(acme: Workspace, rosa: dict) -> None:
    for q in ("ros", "Rosalind", "okaf", "Rosalind Okafor", "rokafor@fastmail.example", "bluewater", "bluewater truck"):
        assert rosa["id"] in ids(acme, q), q


def test_a_contact_is_found_by_its_phone_written_any_way(acme: Workspace, rosa: dict) -> None:
    for q in ("+15552013344", "555-201-3344", "(555) 201-3344", "5552013344", "2013344", "201-3344", "555201"):
        assert rosa["id"] in ids(acme, q), q
    assert rosa["id"] not in ids(acme, "2013345")


def test_a_search_never_returns_another_workspaces_records_even_for_the_same_words(
    acme: Workspace, rival: Workspace, rosa: dict
) -> None:
    twin = rival.call("contacts_create", first_name="Rosalind", last_name="Okafor", phone="+1 555-201-3344")
    assert ids(acme, "rosalind") == {rosa["id"]}
    assert ids(rival, "rosalind") == {twin["id"]}
    assert ids(rival, "bluewater") == set()
    assert ids(rival, "2013344") == {twin["id"]}


def test_the_index_follows_renames_and_deletes(acme: Workspace, rosa: dict) -> None:
    acme.call("contacts_update", contact_id=rosa["id"], last_name="Adeyemi")
    assert rosa["id"] in ids(acme, "adeyemi")
    assert rosa["id"] not in ids(acme, "okafor")
    note = acme.call("notes_create", record_type="contact", record_id=rosa["id"], body="Prefers a weekly remittance")
    assert ("note", note["id"]) in hits(acme, "remittance")
    acme.call("notes_delete", note_id=note["id"])
    assert hits(acme, "remittance") == []
    _assert_index_consistent(acme.db)


def test_renaming_an_account_finds_its_contacts_under_the_new_company_name(acme: Workspace, rosa: dict) -> None:
    acme.call("accounts_upsert", account_id=rosa["account_id"], name="Harborline Freight")
    assert rosa["id"] in ids(acme, "harborline", types=["contact"])
    assert rosa["id"] not in ids(acme, "bluewater", types=["contact"])
    _assert_index_consistent(acme.db)


def test_types_limit_the_search_to_those_records(acme: Workspace, rosa: dict) -> None:
    deal = acme.call("opportunities_create", name="Bluewater Trucking — second position", account_id=rosa["account_id"])
    acme.call("notes_create", record_type="contact", record_id=rosa["id"], body="Bluewater wants a callback")
    assert {kind for kind, _ in hits(acme, "bluewater")} == {"account", "contact", "opportunity", "note"}
    assert hits(acme, "bluewater", types=["opportunity"]) == [("opportunity", deal["id"])]
    assert {kind for kind, _ in hits(acme, "bluewater", types=["note", "account"])} == {"note", "account"}


def test_a_note_hit_shows_the_words_around_the_match(acme: Workspace, rosa: dict) -> None:
    acme.call("notes_create", record_type="contact", record_id=rosa["id"],
              body="Spoke with the owner today. The bank statements for October are still missing; chase Friday.")  # fmt: skip
    (hit,) = acme.call("search", q="statem", types=["note"])["items"]
    assert "[statements]" in hit["snippet"] and hit["snippet"].startswith("…")
    assert "Friday" not in hit["snippet"]


def test_a_name_in_the_title_ranks_above_the_same_word_in_a_body(acme: Workspace) -> None:
    mentioned = acme.call("contacts_create", first_name="Dana", last_name="Whitfield")
    for _ in range(3):  # newer than the contact, so recency alone would put them first
        acme.call("notes_create", record_type="contact", record_id=mentioned["id"], body="Ask Marisol about the lease")
    marisol = acme.call("contacts_create", first_name="Marisol", last_name="Vega")
    acme.call("notes_create", record_type="contact", record_id=mentioned["id"], body="Marisol called back")
    assert hits(acme, "marisol")[0] == ("contact", marisol["id"])


def test_a_contact_is_found_by_name_even_when_hundreds_of_newer_notes_mention_it(acme: Workspace) -> None:
    marisol = acme.call("contacts_create", first_name="Marisol", last_name="Vega")
    for i in range(320):  # more than any one candidate set
        acme.call("notes_create", record_type="contact", record_id=marisol["id"], body=f"Marisol call {i}")
    assert hits(acme, "marisol")[0] == ("contact", marisol["id"])
    assert hits(acme, "marisol", types=["note"], limit=5)[0][0] == "note"


def test_pages_of_a_broad_search_add_up_without_repeats(acme: Workspace) -> None:
    made = {acme.call("contacts_create", first_name=f"Marco{i}", last_name="Test")["id"] for i in range(7)}
    first = acme.call("search", q="ma", limit=3)
    second = acme.call("search", q="ma", limit=3, cursor=first["next_cursor"])
    third = acme.call("search", q="ma", limit=3, cursor=second["next_cursor"])
    pages = [h["id"] for page in (first, second, third) for h in page["items"]]
    assert len(pages) == len(set(pages)) == 7 and set(pages) == made
    assert "next_cursor" not in third


def test_a_query_without_two_letters_or_digits_is_refused_with_what_to_type(acme: Workspace, rosa: dict) -> None:
    for q in ("a b", "..", "x-y"):
        with pytest.raises(InvalidArguments, match="at least 2 letters or digits"):
            acme.call("search", q=q)
    assert rosa["id"] in ids(acme, "Rosalind O")  # a one-letter word beside longer ones is ignored, not refused


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_accents_and_case_do_not_matter(acme: Workspace) -> None:
    jose = acme.call("contacts_create", first_name="José", last_name="Núñez-Ortiz")
    for q in ("jose", "JOSÉ", "nunez", "ortiz", "Núñez"):
        assert jose["id"] in ids(acme, q), q


def test_records_that_existed_before_the_index_changed_are_found_after_the_upgrade(tmp_path: Path) -> None:
    # The records are written with today's models (at head), then the schema goes back to 0005 — 0002's index, rebuilt
    # from the records — and forward again: 0006 rebuilds today's index from the same records. (Writing them at 0005
    # would need the models of 0005: every column added since breaks an ORM insert into the old tables.)
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "head")
    db = Database(url)
    try:
        ws = Workspace(db, "Before")
        old = ws.call("contacts_create", first_name="Evangeline", last_name="Marsh", phone="+1 555-777-1212")
        ws.h.close()
        db.dispose()
        command.downgrade(alembic_config(url), "0005")
        with db.engine.connect() as conn:
            found = conn.execute(text("SELECT rid FROM search_fts WHERE search_fts MATCH 'evangel*'")).scalars()
            assert list(found) == [old["id"]]
        db.dispose()
        command.upgrade(alembic_config(url), "head")
        assert ids(ws, "evangel") == ids(ws, "7771212") == {old["id"]}
    finally:
        db.dispose()


def _assert_index_consistent(db: Database) -> None:
    """FTS5's own check that its index matches its content table (SQLite; PostgreSQL's tsvector is generated)."""
    if not db.is_sqlite:
        return
    with db.engine.begin() as conn:
        # rank = 1: also compare the index with its content table (without it, only the index's own structure)
        conn.execute(text("INSERT INTO search_fts_index (search_fts_index, rank) VALUES ('integrity-check', 1)"))
        (orphans,) = conn.execute(text(
            "SELECT count(*) FROM search_fts_docs d WHERE d.kind = 'note' AND NOT EXISTS "
            "(SELECT 1 FROM notes n WHERE n.tenant_id = d.tenant_id AND n.id = d.rid)"
        )).one()  # fmt: skip
    assert orphans == 0


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)  # PostgreSQL's index is a generated column: no bulk path
def test_a_bulk_load_indexes_its_rows_once_at_the_end(acme: Workspace) -> None:
    with bulk.deferred():
        quiet = acme.call("contacts_create", first_name="Deferred", last_name="Row")
    assert hits(acme, "deferred") == []
    with acme.db.engine.begin() as conn:
        assert fulltext.index_missing(conn, acme.id) == 1
        assert fulltext.index_missing(conn, acme.id) == 0  # nothing twice
    assert hits(acme, "deferred") == [("contact", quiet["id"])]
    _assert_index_consistent(acme.db)


def test_letters_the_index_cannot_split_are_refused_with_a_clear_message_not_a_failure(acme: Workspace) -> None:
    try:
        found = acme.call("search", q="a\uab70b")  # a Cherokee small letter, newer than SQLite's Unicode tables
    except InvalidArguments as refused:
        assert "letters and digits" in str(refused)
    else:
        assert found["items"] == []  # PostgreSQL reads it as one word and finds nothing
