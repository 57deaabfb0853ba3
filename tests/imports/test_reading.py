"""Reading what other CRMs export: any common encoding and delimiter, quoted newlines, XLSX; each CRM's columns
recognised; every unreadable value reported with its row, column and reason; files that are not contact lists
refused before anything is used."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from harmonia.errors import InvalidArguments
from harmonia.imports.mapping import build_mapping
from harmonia.imports.normalize import Draft, Failure, Normalizer
from harmonia.imports.reader import UnreadableFile, open_table
from harmonia.imports.spreadsheet import safe_cell


def _read(path: Path, preset: str = "auto", mapping: dict[str, str] | None = None) -> tuple[str, list[Draft | Failure]]:
    with open_table(path) as table:
        m = build_mapping(table.header, preset, mapping)
        normalize = Normalizer(m, "US")
        return m.preset, [normalize(*row) for row in table.rows]


def _write(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "list.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
def test_a_csv_in_any_common_encoding_is_read_with_its_accents(tmp_path: Path, encoding: str) -> None:
    path = _write(
        tmp_path,
        "First Name,Last Name,Email\nJosé,Muñoz,jose@example.com\nRenée,Françoise,renee@example.com\n",
        encoding,
    )
    _, rows = _read(path)
    assert [r.values["first_name"] for r in rows if isinstance(r, Draft)] == ["José", "Renée"]


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_the_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    path = _write(tmp_path, delimiter.join(["Name", "Email", "Phone"]) + "\n"
                  + delimiter.join(["Ann Lee", "ann@example.com", "3055550101"]) + "\n")  # fmt: skip
    _, [row] = _read(path)
    assert isinstance(row, Draft)
    assert (row.values["first_name"], row.values["last_name"], row.values["phone"]) == ("Ann", "Lee", "+13055550101")


def test_a_quoted_newline_stays_inside_its_value_and_rows_are_numbered_as_a_spreadsheet_shows_them(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, 'Name,Email,Title\n"Ann Lee",ann@example.com,"Owner\nand CEO"\nBob Ray,not-an-email,CFO\n')
    _, [ann, bob] = _read(path)
    assert isinstance(ann, Draft) and ann.values["title"] == "Owner\nand CEO"
    assert isinstance(bob, Failure)
    assert (bob.row, bob.column) == (3, "Email") and "not an email address" in bob.reason


def test_an_xlsx_workbook_is_read_with_numbers_as_the_text_a_person_typed(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["First Name", "Last Name", "Phone", "Email"])
    sheet.append(["Ann", "Lee", 3055550101, "ann@example.com"])
    path = tmp_path / "list.xlsx"
    book.save(path)
    _, [row] = _read(path)
    assert isinstance(row, Draft) and row.values["phone"] == "+13055550101"


@pytest.mark.parametrize(
    "header, preset",
    [
        ("First Name,Last Name,Email,Account Name,HasOptedOutOfEmail,DoNotCall", "salesforce"),
        ("First Name,Last Name,Email,Phone Number,Unsubscribed from all email,Marketing contact status", "hubspot"),
        ("First Name,Last Name,Email,Phone,Business Name,Tags,DND,DND SMS", "gohighlevel"),
        ("contact_name,primary_email,primary_phone,lead_name,lead_status", "close"),
    ],
)
def test_auto_recognises_each_crms_export_from_its_header(tmp_path: Path, header: str, preset: str) -> None:
    path = _write(tmp_path, header + "\n" + ",".join("x" for _ in header.split(",")) + "\n")
    with open_table(path) as table:
        assert build_mapping(table.header, "auto").preset == preset


def test_a_salesforce_report_maps_its_opt_out_columns_and_its_account(tmp_path: Path) -> None:
    path = _write(tmp_path, "First Name,Last Name,Account Name,Email,Phone,HasOptedOutOfEmail,DoNotCall\n"
                  "Ann,Lee,Lee Bakery,ann@lee.example,3055550101,1,true\n")  # fmt: skip
    preset, [row] = _read(path)
    assert preset == "salesforce" and isinstance(row, Draft)
    assert (row.company, row.opt_out) == ("Lee Bakery", {"email", "call"})


def test_gohighlevel_dnd_columns_and_tags_are_read(tmp_path: Path) -> None:
    path = _write(tmp_path, 'First Name,Email,Tags,DND,DND SMS\nAnn,ann@x.example,"vip, mca",false,true\n')
    _, [row] = _read(path, "gohighlevel")
    assert isinstance(row, Draft) and (row.tags, row.dnd, row.dnd_channels) == (["vip", "mca"], False, ["sms"])


def test_any_column_can_be_mapped_by_hand_to_a_standard_or_a_custom_field(tmp_path: Path) -> None:
    path = _write(tmp_path, "Correo,Nombre,Plan,Alta\nana@x.example,Ana,Gold,03/04/2024\n")
    _, [row] = _read(path, mapping={"Correo": "email", "Nombre": "first_name", "Plan": "custom:plan",
                                    "Alta": "custom_date:signed_up"})  # fmt: skip
    assert isinstance(row, Draft)
    assert row.values == {"email": "ana@x.example", "first_name": "Ana"}
    assert row.custom == {"plan": "Gold", "signed_up": "2024-03-04"}


def test_a_mapping_to_a_field_that_does_not_exist_is_refused_with_the_fields_that_do(tmp_path: Path) -> None:
    path = _write(tmp_path, "Email\nana@x.example\n")
    with pytest.raises(InvalidArguments) as info:
        _read(path, mapping={"Email": "e_mail"})
    assert "custom:NAME" in info.value.message and "email" in info.value.message


def test_a_bad_phone_and_a_bad_flag_are_reported_with_row_column_and_reason(tmp_path: Path) -> None:
    path = _write(tmp_path, "Name,Phone,Email Opt Out\nAnn,12,false\nBob,3055550101,maybe\n")
    _, [ann, bob] = _read(path, mapping={"Email Opt Out": "email_opt_out"})
    assert isinstance(ann, Failure) and (ann.row, ann.column) == (2, "Phone") and "not a phone number" in ann.reason
    assert isinstance(bob, Failure) and (bob.row, bob.column) == (3, "Email Opt Out") and "yes/no" in bob.reason


def test_an_empty_file_is_refused_saying_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile, match="empty"):
        _read(_write(tmp_path, "\n\n"))


def test_a_binary_file_is_refused_as_not_a_csv(tmp_path: Path) -> None:
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 20)
    with pytest.raises(UnreadableFile, match="binary"):
        _read(path)


def test_a_file_without_a_name_email_or_phone_column_is_refused_listing_its_columns(tmp_path: Path) -> None:
    with pytest.raises(InvalidArguments) as info:
        _read(_write(tmp_path, "Color,Size\nred,10\n"))
    assert "no column" in info.value.message and "'Color'" in info.value.message


def test_a_header_of_5000_columns_is_refused_before_any_row_is_read(tmp_path: Path) -> None:
    path = _write(tmp_path, ",".join(f"c{i}" for i in range(5000)) + "\n" + ",".join("x" * 5000) + "\n")
    with pytest.raises(UnreadableFile, match="5000 columns"):
        _read(path)


def test_a_row_of_5000_cells_under_a_short_header_fails_alone(tmp_path: Path) -> None:
    path = _write(tmp_path, "Name,Email\n" + ",".join(["Ann"] * 5000) + "\nBob,bob@x.example\n")
    _, [wide, bob] = _read(path)
    assert isinstance(wide, Failure) and "5000 cells" in wide.reason
    assert isinstance(bob, Draft)


def test_a_formula_is_imported_as_text_and_escaped_whenever_it_is_written_to_a_spreadsheet(tmp_path: Path) -> None:
    path = _write(tmp_path, "First Name,Email\n\"=cmd|' /C calc'!A0\",evil@x.example\n")
    _, [row] = _read(path)
    assert isinstance(row, Draft) and row.values["first_name"] == "=cmd|' /C calc'!A0"
    assert safe_cell("=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0"
    assert [safe_cell(v) for v in ("+15551234567", "-12.5", "@SUM(A1)", "Ann")] == ["+15551234567", "-12.5",
                                                                                    "'@SUM(A1)", "Ann"]  # fmt: skip
