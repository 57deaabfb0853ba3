"""`harmonia import contacts FILE --tenant SLUG [--preset] [--dry-run] [--json]` (SPEC §10): the summary as JSON on
the last line; a dry run writes nothing; the error file and export from the same command line."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from harmonia.config import get_settings
from harmonia.models import Contact, Job
from harmonia.surfaces.cli import app

from ..conftest import Workspace
from .conftest import SALESFORCE_HEADER

ROWS = [
    "Maria,Lopez,Owner,Lopez Tacos LLC,maria@lopeztacos.example,(305) 555-0101,,false,false,Web",
    "Dan,Reyes,CFO,Reyes Trucking,dan@reyes.example,212-555-0102,,true,true,Referral",
    "Bad,Row,CEO,Nowhere,not-an-email,,,false,false,Web",
]


@pytest.fixture
def cli(acme: Workspace, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setattr(get_settings(), "database_url", acme.db.url)
    return CliRunner()


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "salesforce leads.csv"
    path.write_text("\n".join([SALESFORCE_HEADER, *ROWS]) + "\n", encoding="utf-8")
    return path


def _count(ws: Workspace, model: type) -> int:
    with ws.db.unit_of_work(ws.actor(), write=False) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model)) or 0)


def test_import_json_prints_the_summary_as_its_last_line(cli: CliRunner, acme: Workspace, tmp_path: Path) -> None:
    done = cli.invoke(app, ["import", "contacts", str(_file(tmp_path)), "--tenant", acme.slug, "--preset",
                            "salesforce", "--json", "--errors-out", str(tmp_path / "errors.csv")])  # fmt: skip
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert {k: summary[k] for k in ("rows", "created", "updated", "skipped", "failed")} == {
        "rows": 3, "created": 2, "updated": 0, "skipped": 0, "failed": 1}  # fmt: skip
    assert summary["job_id"].startswith("jb_") and summary["status"] == "done"
    errors = (tmp_path / "errors.csv").read_text().splitlines()
    assert errors[0].endswith("row,column,reason") and "not-an-email" in errors[1]
    assert [p for p in Path(get_settings().upload_dir).rglob("*") if p.is_file()] == []  # the copy is gone
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        maria = uow.session.scalar(select(Contact).where(Contact.first_name == "Maria"))
    assert maria is not None and (maria.source, maria.email_consent, maria.created_via) == ("import", "unknown", "cli")


def test_a_dry_run_from_the_command_line_writes_no_record(cli: CliRunner, acme: Workspace, tmp_path: Path) -> None:
    done = cli.invoke(app, ["import", "contacts", str(_file(tmp_path)), "--tenant", acme.slug, "--dry-run", "--json"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["job_id"], summary["created"], summary["failed"]) == (None, 2, 1)
    assert (_count(acme, Contact), _count(acme, Job)) == (0, 0)
    assert not any(Path(get_settings().upload_dir).rglob("*.csv"))  # no copy of the file is kept


def test_a_file_that_is_not_a_contact_list_is_refused_on_stderr_with_exit_code_2(
    cli: CliRunner, acme: Workspace, tmp_path: Path
) -> None:
    binary = tmp_path / "list.csv"
    binary.write_bytes(bytes(range(256)) * 10)
    done = cli.invoke(app, ["import", "contacts", str(binary), "--tenant", acme.slug])
    assert done.exit_code == 2 and "binary" in done.stderr and "Traceback" not in done.output
    assert _count(acme, Job) == 0


def test_undo_from_the_command_line_removes_what_the_import_created(
    cli: CliRunner, acme: Workspace, tmp_path: Path
) -> None:
    done = cli.invoke(app, ["import", "contacts", str(_file(tmp_path)), "--tenant", acme.slug, "--json"])
    job_id = json.loads(done.stdout.strip().splitlines()[-1])["job_id"]
    undone = cli.invoke(app, ["import", "undo", job_id, "--tenant", acme.slug])
    assert undone.exit_code == 0 and json.loads(undone.stdout)["deleted"] == 2
    assert _count(acme, Contact) == 0


def test_export_writes_every_record_type_as_csv_in_a_zip_with_formulas_escaped(
    cli: CliRunner, acme: Workspace, tmp_path: Path
) -> None:
    acme.call("contacts_create", first_name="=cmd|' /C calc'!A0", email="evil@x.example")
    acme.call("notes_create", record_type="contact", record_id=acme.call("contacts_list")["items"][0]["id"],
              body="called")  # fmt: skip
    out = tmp_path / "acme.zip"
    done = cli.invoke(app, ["export", "--tenant", acme.slug, "--format", "csv", "--out", str(out)])
    assert done.exit_code == 0, done.output
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        contacts = archive.read("contacts.csv").decode()
    assert {"contacts.csv", "notes.csv", "users.csv", "audit_events.csv", "jobs.csv"} <= names
    assert "'=cmd|' /C calc'!A0" in contacts
    assert "password_hash" not in archive_text(out)


def archive_text(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        return "".join(archive.read(n).decode() for n in archive.namelist())


def test_export_as_json_lines_gives_one_typed_record_per_line(cli: CliRunner, acme: Workspace, tmp_path: Path) -> None:
    acme.call("contacts_create", first_name="Ann", email="ann@x.example")
    out = tmp_path / "acme.jsonl"
    done = cli.invoke(app, ["export", "--tenant", acme.slug, "--format", "jsonl", "--out", str(out)])
    assert done.exit_code == 0, done.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    [ann] = [r for r in records if r["type"] == "contacts"]
    assert ann["email"] == "ann@x.example" and "tenant_id" not in ann
    assert {r["type"] for r in records} >= {"contacts", "users", "pipelines", "stages"}


def test_an_xlsx_workbook_imports_like_its_csv(cli: CliRunner, acme: Workspace, tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(SALESFORCE_HEADER.split(","))
    for row in ROWS:
        sheet.append(row.split(","))
    path = tmp_path / "leads.xlsx"
    book.save(path)
    done = cli.invoke(app, ["import", "contacts", str(path), "--tenant", acme.slug, "--json"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["preset"], summary["created"], summary["failed"]) == ("salesforce", 2, 1)
