"""Every record of a workspace, out: CSV (one file per record type, zipped) or JSON lines. A user can always leave
with their data. Rows are streamed a thousand at a time through the tenant wall (ORM attributes, never Core columns),
and CSV cells that look like formulas are escaped so a spreadsheet never runs them. Credentials (password and token
hashes) are the one thing left out: they open the workspace, they are not its data.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from typing import IO, Any

import orjson
from sqlalchemy import select

from ..db import Actor, Database
from ..imports.spreadsheet import safe_cell
from ..models import Base, TenantOwned

__all__ = ["FORMATS", "record_types", "write"]

FORMATS = ("csv", "jsonl")
SECRETS = {"password_hash", "secret_hash"}


def record_types() -> list[tuple[str, Any, list[str]]]:
    """(table name, model, exported attribute names) for every tenant table, in a fixed order."""
    out = []
    for mapper in sorted(Base.registry.mappers, key=lambda m: str(m.local_table.name)):  # type: ignore[attr-defined]
        if not issubclass(mapper.class_, TenantOwned):
            continue
        names = [a.key for a in mapper.column_attrs if a.key not in SECRETS and a.key != "tenant_id"]
        out.append((str(mapper.local_table.name), mapper.class_, names))  # type: ignore[attr-defined]
    return out


def _rows(db: Database, actor: Actor, model: Any, names: list[str]) -> Iterator[tuple[Any, ...]]:
    with db.unit_of_work(actor, write=False) as uow:
        keys = [getattr(model, c.key) for c in model.__mapper__.primary_key if c.key != "tenant_id"]
        stmt = select(*(getattr(model, n) for n in names)).order_by(*keys).execution_options(yield_per=1000)
        yield from uow.session.execute(stmt)


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def write(db: Database, actor: Actor, fmt: str, out: IO[bytes]) -> dict[str, int]:
    """Write the workspace to `out`; returns the number of rows per record type."""
    counts: dict[str, int] = {}
    if fmt == "jsonl":
        for table, model, names in record_types():
            n = 0
            for row in _rows(db, actor, model, names):
                record = {"type": table, **{k: _plain(v) for k, v in zip(names, row, strict=True) if v is not None}}
                out.write(orjson.dumps(record, default=str) + b"\n")
                n += 1
            counts[table] = n
        return counts
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for table, model, names in record_types():
            n = 0
            with archive.open(f"{table}.csv", "w") as member, io.TextIOWrapper(member, "utf-8", newline="") as text:
                writer = csv.writer(text)
                writer.writerow(names)
                for row in _rows(db, actor, model, names):
                    writer.writerow([safe_cell(_cell(v)) for v in row])
                    n += 1
            counts[table] = n
    return counts


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return orjson.dumps(value, default=str).decode()
    if isinstance(value, bool):
        return "true" if value else "false"
    return _plain(value)
