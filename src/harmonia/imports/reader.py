"""Reading a contact list, a row at a time: CSV in whatever encoding and delimiter the other CRM chose, or XLSX.

Nothing here loads a file whole. The encoding is decided from the first 64 KB (UTF-8 first, since a clean UTF-8
prefix is what almost every export is, then charset-normalizer), the delimiter from the first lines (csv.Sniffer),
and the `csv` module reads quoted newlines and a BOM-stripped header. XLSX goes through openpyxl in read-only mode,
which streams the sheet's XML. A file that is not a table (empty, binary, thousands of columns) is refused before a
single row is used, with a message that says what to do.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidArguments

__all__ = ["MAX_COLUMNS", "MAX_ROWS", "Table", "UnreadableFile", "open_table"]

SAMPLE = 64 * 1024
MAX_COLUMNS = 500  # a contact export has tens of columns; thousands means it is not a contact list
MAX_ROWS = 1_000_000  # per import: a bigger book is split, so one job never runs for an hour
MAX_CELL = 32_768  # a spreadsheet's own cell limit
csv.field_size_limit(MAX_CELL * 4)


class UnreadableFile(InvalidArguments):
    """The file as a whole cannot be imported; nothing was written."""


@dataclass
class Table:
    """A header and its rows: `(row number in the file, cells, why the row is unreadable or None)`, the header
    being row 1."""

    header: list[str]
    rows: Iterator[tuple[int, list[str], str | None]]
    format: str  # csv / xlsx
    encoding: str | None = None
    delimiter: str | None = None


def _is_xlsx(path: Path, head: bytes) -> bool:
    return head.startswith(b"PK\x03\x04") or path.suffix.lower() in (".xlsx", ".xlsm")


@contextmanager
def open_table(path: Path) -> Iterator[Table]:
    """The table in `path`. Raises `UnreadableFile` for a file that is not a readable table."""
    try:
        with path.open("rb") as raw:
            head = raw.read(SAMPLE)
    except OSError:
        raise UnreadableFile("the file could not be opened; upload it again") from None
    if not head.strip():
        raise UnreadableFile("the file is empty; export the contact list again and upload the CSV or XLSX file")
    if _is_xlsx(path, head):
        with _open_xlsx(path) as table:
            yield table
        return
    encoding = _encoding(head)
    text = head.decode(encoding, errors="ignore")
    delimiter = _delimiter(text)
    with path.open(encoding=encoding, errors="replace", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = next(reader, None)
        except csv.Error:
            raise UnreadableFile("the first line of the file is not a CSV header") from None
        yield Table(_header(header), _csv_rows(reader), "csv", encoding, delimiter)


def _encoding(head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        raise UnreadableFile("this is a binary file, not a CSV or XLSX export; export the list as CSV and retry")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)  # a cut multi-byte character is fine
        return "utf-8-sig"  # strips a BOM when there is one
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(head).best()
    if best is None or best.encoding is None:
        raise UnreadableFile("the file's text encoding could not be recognised; save it as UTF-8 CSV and retry")
    return str(best.encoding)


def _delimiter(text: str) -> str:
    lines = text.splitlines()[:20]
    sample = "\n".join(lines[:-1] if len(lines) > 1 else lines)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _header(cells: list[Any] | tuple[Any, ...] | None) -> list[str]:
    if not cells or not any(_cell(c) for c in cells):
        raise UnreadableFile("the file has no header line; the first line must name the columns (Email, Phone…)")
    if len(cells) > MAX_COLUMNS:
        raise UnreadableFile(
            f"the file has {len(cells)} columns; a contact list has at most {MAX_COLUMNS} — check that this is the "
            "right file, or remove the columns you do not need"
        )
    header = [_cell(c) for c in cells]
    while header and not header[-1]:
        header.pop()  # trailing empty columns (a spreadsheet's habit)
    return header


def _csv_rows(reader: Any) -> Iterator[tuple[int, list[str], str | None]]:
    """Rows numbered as a spreadsheet shows them (a quoted newline does not start a new row)."""
    number = 1
    while True:
        number += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a field larger than any cell, a stray quote at the end of the file
            yield number, [], f"the row is not valid CSV ({exc})"
            continue
        if cells and any(c.strip() for c in cells):
            yield number, cells, None


@contextmanager
def _open_xlsx(path: Path) -> Iterator[Table]:
    import zipfile

    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):
        raise UnreadableFile("the file is not a readable XLSX workbook; open it and save it as XLSX or CSV") from None
    try:
        sheet = book.worksheets[0]
        values = sheet.iter_rows(values_only=True)
        header = next(values, None)
        yield Table(_header(header), _xlsx_rows(values), "xlsx")
    finally:
        book.close()


def _xlsx_rows(values: Iterator[tuple[Any, ...]]) -> Iterator[tuple[int, list[str], str | None]]:
    for number, cells in enumerate(values, start=2):
        row = [_cell(c) for c in cells]
        if any(row):
            yield number, row, None


def _cell(value: Any) -> str:
    """A spreadsheet's typed cell as the text a CSV export would hold (5551234567.0 is the phone 5551234567)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()
