"""An import as a job: a dry run that writes nothing, dedupe that never overwrites what a person typed, accounts,
tags and owners, an error file, cancel, resume after a crash, and undo that keeps what people changed since."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, update

from harmonia.errors import Forbidden, InvalidArguments, NotFound
from harmonia.models import Account, Contact, Job, JobItem, Tag
from harmonia.services import import_runs, jobs

from ..conftest import Workspace

HEADER = "First Name,Last Name,Email,Phone,Title,Company,Website,Tags,Owner Email"


def _csv(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def _count(ws: Workspace, model: Any) -> int:
    with ws.db.unit_of_work(ws.actor(), write=False) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model)) or 0)


def _contact(ws: Workspace, email: str) -> Contact:
    with ws.db.unit_of_work(ws.actor(), write=False) as uow:
        found = uow.session.scalar(select(Contact).where(Contact.email == email))
    assert found is not None
    return found


def _job(ws: Workspace, job_id: str) -> Job:
    with ws.db.unit_of_work(ws.actor(), write=False) as uow:
        job = uow.session.scalar(select(Job).where(Job.id == job_id))
    assert job is not None
    return job


def test_a_dry_run_counts_checks_and_shows_a_sample_but_writes_nothing(acme: Workspace) -> None:
    acme.call("contacts_create", first_name="Ann", email="ann@lee.example")
    before = [_count(acme, m) for m in (Contact, Account, Tag, Job, JobItem)]
    result = acme.call("imports_start", dry_run=True, content=_csv(
        "Ann,Lee,ann@lee.example,,,,,,", "Bob,Ray,bob@ray.example,3055550101,CFO,Ray Trucking,ray.example,vip,",
        "Cy,Po,not-an-email,,,,,,"))  # fmt: skip
    assert (result["status"], result["rows"], result["created"], result["updated"], result["failed"]) == (
        "dry_run", 3, 1, 1, 1)  # fmt: skip
    assert "job_id" not in result
    assert result["errors"] == [{"row": 4, "column": "Email", "reason": result["errors"][0]["reason"]}]
    assert result["sample"][0]["email"] == "bob@ray.example" and result["sample"][0]["email_consent"] == "unknown"
    assert [_count(acme, m) for m in (Contact, Account, Tag, Job, JobItem)] == before


@pytest.mark.parametrize(
    "policy, title, phone",
    [("fill_empty", "Founder", "+13055550101"), ("overwrite", "CEO", "+13055550101"), ("skip", "Founder", None)],
)
def test_an_existing_contact_is_updated_by_the_policy_and_fill_empty_keeps_what_a_person_typed(
    acme: Workspace, policy: str, title: str, phone: str | None
) -> None:
    acme.call("contacts_create", first_name="Ann", email="ann@lee.example", title="Founder")
    result = acme.call("imports_start", dedupe=policy, content=_csv("Ann,Lee,ANN@lee.example,305-555-0101,CEO,,,,"))
    ann = _contact(acme, "ann@lee.example")
    assert (ann.title, ann.phone, ann.source) == (title, phone, "api")  # still the contact a person made
    assert (result["created"], result["updated"], result["skipped"]) == (0, 0 if policy == "skip" else 1,
                                                                         1 if policy == "skip" else 0)  # fmt: skip


def test_a_contact_is_matched_by_email_then_by_phone_and_a_repeated_row_is_skipped(acme: Workspace) -> None:
    acme.call("contacts_create", first_name="Bob", phone="+13055550102")
    result = acme.call("imports_start", content=_csv(
        "Bob,Ray,bob@ray.example,(305) 555-0102,,,,,", "Cy,Po,cy@po.example,,,,,,", "Cy,Po,cy@po.example,,,,,,"))  # fmt: skip
    assert (result["created"], result["updated"], result["skipped"]) == (1, 1, 1)
    assert _count(acme, Contact) == 2
    assert _contact(acme, "bob@ray.example").phone == "+13055550102"  # the email filled the phone-matched contact


def test_an_opt_out_in_the_file_applies_to_an_existing_contact_even_when_the_policy_is_skip(acme: Workspace) -> None:
    acme.call("contacts_create", first_name="Ann", email="ann@lee.example")
    acme.call("imports_start", dedupe="skip", content="Email,Email Opt Out\nann@lee.example,yes\n",
              mapping={"Email Opt Out": "email_opt_out"})  # fmt: skip
    assert _contact(acme, "ann@lee.example").email_consent == "unsubscribed"


def test_accounts_are_matched_by_domain_then_name_and_created_once_tags_and_owners_are_applied(acme: Workspace) -> None:
    acme.call("accounts_upsert", name="Lee Bakery Inc", domain="leebakery.example")
    acme.call("accounts_upsert", name="Ray Trucking")
    result = acme.call("imports_start", content=_csv(
        f"Ann,Lee,ann@lee.example,,,Lee Bakery,https://www.leebakery.example/about,vip,{acme.owner.email}",
        "Bob,Ray,bob@ray.example,,,ray trucking,,,nobody@else.example",
        "Cy,Po,cy@po.example,,,Po Tacos,,\"vip, tacos\",", "Di,Po,di@po.example,,,Po Tacos,,,"))  # fmt: skip
    assert (result["created"], result["accounts_created"]) == (4, 1)
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        accounts = {a.id: a.name for a in uow.session.scalars(select(Account))}
    ann, bob, cy, di = (_contact(acme, f"{n}@{d}.example") for n, d in (("ann", "lee"), ("bob", "ray"), ("cy", "po"),
                                                                         ("di", "po")))  # fmt: skip
    assert (accounts[ann.account_id or ""], accounts[bob.account_id or ""]) == ("Lee Bakery Inc", "Ray Trucking")
    assert cy.account_id == di.account_id and accounts[cy.account_id or ""] == "Po Tacos"
    assert (ann.owner_id, bob.owner_id) == (acme.owner.id, None)
    assert acme.call("contacts_get", contact_id=cy.id)["tags"] == ["tacos", "vip"]


def test_the_error_file_lists_failed_rows_with_a_reason_and_escapes_formulas(acme: Workspace) -> None:
    result = acme.call(
        "imports_start", content=_csv("=HYPERLINK(1),X,bad-email,,,,,,", "Ann,Lee,ann@lee.example,,,,,,")
    )
    job = _job(acme, result["job_id"])
    assert job.error_file == f"/api/v1/jobs/{job.id}/errors.csv"
    with acme.db.unit_of_work(acme.actor(), write=False) as uow:
        text = "".join(import_runs.error_file(uow, job))
    header, row = text.splitlines()
    assert header == HEADER + ",row,column,reason"
    assert row.startswith("'=HYPERLINK(1),X,bad-email,") and ",2,Email," in row and "not an email address" in row


def test_over_mcp_a_consent_column_is_refused_but_a_person_can_import_one(acme: Workspace) -> None:
    content = "Email,SMS Consent\nann@lee.example,opted_in\n"
    with pytest.raises(Forbidden) as info:
        acme.call("imports_start", content=content, mapping={"SMS Consent": "sms_consent"})
    assert "only a person" in info.value.message
    assert _count(acme, Job) == 0
    acme.call("imports_start", acme.actor(channel="ui"), content=content, mapping={"SMS Consent": "sms_consent"})
    ann = _contact(acme, "ann@lee.example")
    assert (ann.sms_consent, ann.email_consent) == ("opted_in", "unknown")


@pytest.mark.parametrize("content, words", [("", "empty"), ("Color,Size\nred,1", "no column"),
                                            ("Email\n", "no rows")])  # fmt: skip
def test_bad_input_gets_a_clear_answer_and_nothing_is_written(acme: Workspace, content: str, words: str) -> None:
    with pytest.raises(InvalidArguments) as info:
        acme.call("imports_start", content=content)
    assert words in info.value.message
    assert (_count(acme, Job), _count(acme, Contact)) == (0, 0)


def test_a_job_of_one_workspace_is_not_found_from_another(acme: Workspace, rival: Workspace) -> None:
    job_id = acme.call("imports_start", content=_csv("Ann,Lee,ann@lee.example,,,,,,"))["job_id"]
    for tool in ("jobs_get", "jobs_cancel", "imports_undo"):
        with pytest.raises(NotFound):
            rival.call(tool, job_id=job_id)


def _rows(n: int) -> str:
    return _csv(*(f"P{i},Q,p{i}@q.example,,,,,," for i in range(n)))


def test_a_queued_job_is_cancelled_at_once_and_a_running_one_after_its_batch(
    acme: Workspace, monkeypatch: pytest.MonkeyPatch, inline_jobs: Any
) -> None:
    acme.db.bus.unsubscribe("job_queued", inline_jobs)  # queued only, as with a separate worker
    monkeypatch.setattr(jobs, "BATCH", 2)
    queued = acme.call("imports_start", content=_rows(6))["job_id"]
    assert acme.call("jobs_cancel", job_id=queued)["status"] == "cancelled"
    running = acme.call("imports_start", content=_rows(6))["job_id"]

    def cancel_after_first_batch(job: Job) -> None:
        if job.done == 2:
            acme.call("jobs_cancel", job_id=running)

    jobs.run_import(acme.db, acme.id, running, progress=cancel_after_first_batch)
    got = acme.call("jobs_get", job_id=running)
    assert (got["status"], got["done"], got["counts"]["created"]) == ("cancelled", 2, 2)
    assert _count(acme, Contact) == 2


class _Crash(BaseException):
    """Stands for the process dying: nothing in the runner catches it."""


def test_a_job_whose_runner_died_resumes_from_its_last_committed_batch(
    acme: Workspace, monkeypatch: pytest.MonkeyPatch, inline_jobs: Any
) -> None:
    acme.db.bus.unsubscribe("job_queued", inline_jobs)  # queued only, as with a separate worker
    monkeypatch.setattr(jobs, "BATCH", 2)
    content = _rows(5).rstrip("\n") + "\nP1,Q,p1@q.example,,,,,,\n"  # the last row repeats one of the first batch
    job_id = acme.call("imports_start", content=content)["job_id"]

    def crash(job: Job) -> None:
        if job.done == 4:
            raise _Crash

    with pytest.raises(_Crash):
        jobs.run_import(acme.db, acme.id, job_id, progress=crash)
    assert acme.call("jobs_get", job_id=job_id)["status"] == "running"
    assert jobs.run_due(acme.db) == 0  # its lease still holds: nobody else takes it over
    with acme.db.unit_of_work(acme.actor()) as uow:
        uow.session.execute(update(Job).where(Job.id == job_id).values(lease_until=uow.now()))
    assert jobs.run_due(acme.db) == 1
    got = acme.call("jobs_get", job_id=job_id)
    assert (got["status"], got["done"], got["counts"]["created"], got["counts"]["skipped"]) == ("done", 6, 5, 1)
    assert _count(acme, Contact) == 5


def test_undo_deletes_what_the_import_created_and_reverts_what_it_updated_but_keeps_what_people_changed_since(
    acme: Workspace,
) -> None:
    typed = acme.call("contacts_create", first_name="Ann", email="ann@lee.example")
    job_id = acme.call("imports_start", content=_csv(
        "Ann,Lee,ann@lee.example,3055550101,CEO,,,,", "Bob,Ray,bob@ray.example,,,Ray Trucking,,,",
        "Cy,Po,cy@po.example,,,,,,"))["job_id"]  # fmt: skip
    cy = _contact(acme, "cy@po.example")
    acme.call("contacts_update", contact_id=cy.id, title="Owner")  # a person works on Cy after the import
    undone = acme.call("imports_undo", job_id=job_id)
    assert (undone["status"], undone["deleted"], undone["reverted"], undone["accounts_deleted"]) == ("undone", 1, 1, 1)
    assert [n["contact_id"] for n in undone["not_undone"]] == [cy.id]
    assert "changed since" in undone["not_undone"][0]["reason"]
    ann = acme.call("contacts_get", contact_id=typed["id"])
    assert ("phone" not in ann, "title" not in ann) == (True, True)
    assert _count(acme, Contact) == 2 and _count(acme, Account) == 0
    with pytest.raises(Exception, match="already undone"):
        acme.call("imports_undo", job_id=job_id)


def test_the_server_runs_a_started_import_in_a_thread_of_its_own(acme: Workspace, inline_jobs: Any) -> None:
    import threading

    acme.db.bus.unsubscribe("job_queued", inline_jobs)
    threaded = jobs.install_inprocess_jobs(acme.db)  # what bootstrap() subscribes in `harmonia serve`
    started = acme.call("imports_start", content=_rows(3))
    acme.db.bus.unsubscribe("job_queued", threaded)
    for runner in [t for t in threading.enumerate() if t.name == f"job {started['job_id']}"]:  # unless already done
        runner.join(timeout=60)
        assert not runner.is_alive()
    assert acme.call("jobs_get", job_id=started["job_id"])["status"] == "done"
    assert _count(acme, Contact) == 3
