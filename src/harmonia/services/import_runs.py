"""An import from start to undo: the dry run, queuing the job, the error file, and undoing what the job did."""

from __future__ import annotations

import csv
import io
import secrets
import shutil
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from ..config import get_settings
from ..db import UnitOfWork
from ..errors import Conflict, Forbidden, InvalidArguments, NotFound
from ..imports.mapping import Mapping, build_mapping
from ..imports.normalize import Normalizer
from ..imports.presets import CONSENT_TARGETS
from ..imports.reader import MAX_ROWS, UnreadableFile, open_table
from ..imports.spreadsheet import safe_cell
from ..models import Account, Contact, Conversation, Event, Job, JobItem, Note, Opportunity, Tagging, Task, Tenant
from .imports import Counts, ImportWriter, Options
from .jobs import BATCH, create_job

__all__ = ["dry_run", "error_file", "queue_import", "region_of", "store_upload", "undo"]

KIND = "import_contacts"
MAX_UPLOAD = 200 * 1024 * 1024


def region_of(uow: UnitOfWork) -> str:
    """The workspace's phone region: numbers written without a country code are read as this country's."""
    tenant = uow.session.get(Tenant, uow.tenant_id)
    region = ((tenant.settings or {}) if tenant else {}).get("phone_region") or "US"
    return str(region).upper()


def store_upload(tenant_id: str, data: bytes | Path, filename: str) -> Path:
    """Keep an uploaded file (its bytes, or a copy of a file at the server) where every runner of this
    installation can read it, under an unguessable name. Returns its path; `path.name` is the upload id."""
    size = data.stat().st_size if isinstance(data, Path) else len(data)
    head = _head(data)
    if size == 0 or not head.strip():
        raise UnreadableFile("the file is empty; export the contact list again and upload the CSV or XLSX file")
    if size > MAX_UPLOAD:
        raise UnreadableFile(f"the file is larger than {MAX_UPLOAD // 1024 // 1024} MB; split it and import each part")
    suffix = ".xlsx" if filename.lower().endswith((".xlsx", ".xlsm")) or head[:4] == b"PK\x03\x04" else ".csv"
    folder = Path(get_settings().upload_dir) / tenant_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{secrets.token_hex(16)}{suffix}"
    if isinstance(data, Path):
        shutil.copyfile(data, path)
    else:
        path.write_bytes(data)
    return path.resolve()


def _head(data: bytes | Path) -> bytes:
    if isinstance(data, bytes):
        return data[:4096]
    try:
        with data.open("rb") as handle:
            return handle.read(4096)
    except OSError:
        raise UnreadableFile(f"{data} could not be read; check the path and its permissions") from None


def upload_path(tenant_id: str, upload_id: str) -> Path:
    """The stored upload `upload_id` of this tenant (never a path outside the tenant's folder)."""
    name = Path(upload_id).name
    path = Path(get_settings().upload_dir) / tenant_id / name
    if name != upload_id or not path.is_file():
        raise NotFound(f"upload {upload_id!r} not found; upload the file again (POST /api/v1/imports/uploads)")
    return path.resolve()


def check_mapping(uow: UnitOfWork, mapping: Mapping) -> None:
    """Consent is recorded by people (SPEC §11): an AI client may import opt-outs, never a grant of consent."""
    consent = [mapping.header[i] for i, t in mapping.columns.items() if t in CONSENT_TARGETS]
    if consent and uow.actor.channel == "mcp":
        raise Forbidden(
            f"the column(s) {', '.join(repr(c) for c in consent)} would record consent, which only a person can do "
            "(web UI, command line or REST); map them to ignore, or to email_opt_out/sms_opt_out/call_opt_out"
        )


def dry_run(uow: UnitOfWork, path: Path, options: Options) -> tuple[Mapping, Counts]:
    """What the import would do — counts, the first errors, a sample of rows as stored — writing nothing."""
    writer = ImportWriter(None, options, dry_run=True)
    with open_table(path) as table:
        mapping = build_mapping(table.header, options.preset, options.mapping)
        check_mapping(uow, mapping)
        normalize = Normalizer(mapping, options.region)
        while chunk := list(islice(table.rows, BATCH)):
            writer.batch(uow, [normalize(*row) for row in chunk])
            if writer.counts.rows > MAX_ROWS:
                raise UnreadableFile(f"the file has more than {MAX_ROWS:,} rows; split it and import each part")
    if writer.counts.rows == 0:
        raise UnreadableFile("the file has a header but no rows to import")
    return mapping, writer.counts


def queue_import(uow: UnitOfWork, path: Path, mapping: Mapping, options: Options, counts: Counts, filename: str) -> Job:
    # The header is kept with the job: the error file is written from it after the uploaded file is deleted.
    params = {"path": str(path), "filename": filename, "options": options.to_dict(), "header": mapping.header}
    job = create_job(uow, KIND, params, total=counts.rows)
    job.result = {"dry_run": {k: v for k, v in counts.to_dict().items() if k != "sample"}}
    return job


def error_file(uow: UnitOfWork, job: Job) -> Iterator[str]:
    """The rows the job could not import, as CSV: the file's own columns, then `row` and `reason`. Cells are
    escaped so a spreadsheet never runs them as formulas."""
    header: list[str] = list(job.params.get("header") or [])
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([safe_cell(h) for h in [*header, "row", "column", "reason"]])
    yield out.getvalue()
    items = uow.session.scalars(
        select(JobItem).where(JobItem.job_id == job.id, JobItem.action == "failed").order_by(JobItem.row)
    )
    for item in items:
        out.seek(0)
        out.truncate()
        cells = list(item.after.get("cells") or [])
        cells = (cells + [""] * len(header))[: len(header)] if header else cells
        writer.writerow([safe_cell(c) for c in [*cells, item.row, item.after.get("column", ""), item.after["reason"]]])
        yield out.getvalue()


_LINKS: tuple[Any, ...] = (Opportunity.contact_id, Conversation.contact_id, Event.contact_id)  # fmt: skip


def undo(uow: UnitOfWork, job: Job) -> dict[str, Any]:
    """Delete the contacts (and accounts) the import created and revert the fields it updated — except where a
    person has changed the record since, which is reported, never overwritten."""
    if job.kind != KIND:
        raise InvalidArguments(f"job {job.id} is a {job.kind} job; only imports can be undone")
    if job.status in ("queued", "running"):
        raise Conflict(f"job {job.id} is {job.status}; cancel it (jobs_cancel) and undo it once it has stopped")
    if job.status == "undone":
        raise Conflict(f"job {job.id} was already undone")
    report: dict[str, Any] = {"deleted": 0, "reverted": 0, "accounts_deleted": 0, "not_undone": []}
    items = list(uow.session.scalars(select(JobItem).where(JobItem.job_id == job.id, JobItem.action != "failed")))
    for chunk in _chunks([i for i in items if i.record_type == "contact"], 500):
        contacts = {
            c.id: c for c in uow.session.scalars(select(Contact).where(Contact.id.in_([i.record_id for i in chunk])))
        }
        linked = _linked(uow, list(contacts))
        doomed: list[str] = []
        for item in chunk:
            contact = contacts.get(item.record_id or "")
            if contact is None:
                continue
            if item.action == "created":
                if contact.updated_at != item.stamp or contact.id in linked:
                    why = "has deals, messages or notes since" if contact.id in linked else "was changed since"
                    report["not_undone"].append(
                        {"row": item.row, "contact_id": contact.id, "reason": f"the contact {why}; kept"}
                    )
                    continue
                doomed.append(contact.id)
            else:
                _revert(uow, contact, item, report)
        if doomed:  # one statement per 500 contacts, not one per contact
            uow.session.execute(delete(Tagging).where(Tagging.record_type == "contact", Tagging.record_id.in_(doomed)))
            uow.session.execute(
                delete(Contact).where(Contact.id.in_(doomed)).execution_options(synchronize_session=False)
            )
            report["deleted"] += len(doomed)
        uow.session.flush()
    for item in (i for i in items if i.record_type == "account"):
        account = uow.session.scalar(select(Account).where(Account.id == item.record_id))
        used = uow.session.scalar(select(Contact.id).where(Contact.account_id == item.record_id).limit(1)) or \
            uow.session.scalar(select(Opportunity.id).where(Opportunity.account_id == item.record_id).limit(1))  # fmt: skip
        if account is None:
            continue
        if used or account.updated_at != item.stamp:
            report["not_undone"].append({"row": item.row, "account_id": account.id,
                                         "reason": "the account is in use or was changed since; kept"})  # fmt: skip
            continue
        uow.session.delete(account)
        report["accounts_deleted"] += 1
    job.status = "undone"
    job.result = {**job.result, "undo": {**report, "not_undone": report["not_undone"][:100],
                                         "not_undone_count": len(report["not_undone"])}}  # fmt: skip
    job.updated_at = uow.now()
    return job.result["undo"]  # type: ignore[no-any-return]


def _revert(uow: UnitOfWork, contact: Contact, item: JobItem, report: dict[str, Any]) -> None:
    after = {k: v for k, v in item.after.items() if k != "tags_added"}
    kept = [name for name, value in after.items() if _plain(getattr(contact, name)) != value]
    for name, value in item.before.items():
        if name not in kept:
            setattr(contact, name, value)
    added = item.after.get("tags_added") or []
    if added:
        uow.session.execute(delete(Tagging).where(Tagging.record_type == "contact", Tagging.record_id == contact.id,
                                                  Tagging.tag_id.in_(added)))  # fmt: skip
    contact.updated_at = uow.now()
    report["reverted"] += 1
    if kept:
        report["not_undone"].append({"row": item.row, "contact_id": contact.id,
                                     "reason": f"{', '.join(kept)} changed since the import; kept"})  # fmt: skip


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _linked(uow: UnitOfWork, contact_ids: list[str]) -> set[str]:
    if not contact_ids:
        return set()
    found: set[str] = set()
    for column in _LINKS:
        found |= set(uow.session.scalars(select(column).where(column.in_(contact_ids))))
    for model in (Note, Task):
        found |= set(uow.session.scalars(select(model.record_id).where(
            model.record_type == "contact", model.record_id.in_(contact_ids))))  # fmt: skip
    return found


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
