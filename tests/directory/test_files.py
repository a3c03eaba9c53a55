"""Reading and checking directory files: every problem, with row, column and reason."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from openpyxl import Workbook

from bot.directory.io import COLUMNS, FileError, RowError, read_rows, validate, write_rows
from bot.directory.records import Interval, format_hours, parse_hours
from bot.settings import PROJECT_ROOT

from .bad_files import BAD_FILES, BadFile
from .rows import rich_rows, service_row

EXAMPLE = PROJECT_ROOT / "docs" / "examples" / "directory-example.csv"


def test_the_documented_example_is_valid() -> None:
    rows = read_rows(EXAMPLE)
    assert 3 <= len(rows) <= 5
    assert validate(rows) == []
    assert all(row["demo"] == "yes" for row in rows)


def test_the_documentation_names_every_column() -> None:
    documentation = (PROJECT_ROOT / "docs" / "directory-format.md").read_text(encoding="utf-8")
    for column in COLUMNS:
        generic = (
            column.rsplit("_", 1)[0] + "_LANG"
            if column[-3:] in ("_en", "_sq", "_sr", "_mk")
            else column
        )
        assert f"`{generic}`" in documentation, column


def _bad_rows() -> list[dict[str, str]]:
    rows = [
        service_row("ok-01"),
        service_row("bad-02", category="shelters", phones="+355 abc; 12"),
        service_row("bad-03", place="Atlantis", hours="mon-fri 8-16"),
        service_row(
            "bad-04", name_sq="", description_mk=" ", last_verified="2025-13-01",
            websites="www.example.org",
        ),
        service_row("ok-01", country="FR", place=""),
        service_row("bad-06", place="Belgrade", hours="fri-mon 08:00-16:00", lat="41.3"),
        service_row(
            "bad-07", organisation_name="Another name", emails="nobody", target_groups="men",
        ),
        service_row(
            "bad-08", category="egov_service", status="closed", remote="maybe",
            closed_days="2025-01-01; soon",
        ),
    ]  # fmt: skip
    for row in rows:
        row["notes"] = ""
    return rows


PHONE_RULE = "digits, spaces and a leading + only, at least 3 digits"
EXPECTED_ERRORS = [
    RowError(1, "notes", "unknown column"),
    RowError(3, "category", "unknown category 'shelters'"),
    RowError(3, "phones", f"bad phone number '+355 abc': {PHONE_RULE}"),
    RowError(3, "phones", f"bad phone number '12': {PHONE_RULE}"),
    RowError(4, "place", "unknown place 'Atlantis'"),
    RowError(4, "hours", "bad hours: bad time '8', expected HH:MM"),
    RowError(5, "websites", "bad URL 'www.example.org', expected http:// or https://"),
    RowError(5, "name_sq", "required"),
    RowError(5, "description_mk", "required"),
    RowError(5, "last_verified", "bad date '2025-13-01', expected YYYY-MM-DD"),
    RowError(6, "external_id", "duplicate external_id (also row 2)"),
    RowError(6, "country", "unknown country 'FR', expected one of AL XK MK RS BA ME MD UA"),
    RowError(7, "place", "'Belgrade' is in RS, not in AL"),
    RowError(7, "lon", "give both lat and lon, or neither"),
    RowError(7, "hours", "bad hours: day range 'fri-mon' runs backwards"),
    RowError(8, "organisation_name", "differs from row 2: 'Qendra Test'"),
    RowError(8, "target_groups", "unknown target group 'men'"),
    RowError(8, "emails", "bad e-mail address 'nobody'"),
    RowError(9, "status", "unknown status 'closed'"),
    RowError(9, "remote", "'maybe' is not yes or no"),
    RowError(9, "closed_days", "bad date 'soon', expected YYYY-MM-DD"),
    RowError(9, "egov_concerns", "required for category egov_service"),
]  # fmt: skip


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_bad_file_reports_every_problem(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"bad{suffix}"
    rows = _bad_rows()
    _write_with_extra_column(path, rows)
    assert validate(read_rows(path)) == EXPECTED_ERRORS


def _write_with_extra_column(path: Path, rows: list[dict[str, str]]) -> None:
    """write_rows keeps to the format's columns; a bad file needs a stray one."""
    if path.suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    else:
        workbook = Workbook()
        workbook.active.append(list(rows[0]))
        for row in rows:
            workbook.active.append(list(row.values()))
        workbook.save(path)


def test_missing_columns_are_reported_once_in_the_header() -> None:
    rows = [service_row(), service_row("second")]
    for row in rows:
        del row["description_mk"]
    assert validate(rows) == [RowError(1, "description_mk", "required column is missing")]


def test_blank_rows_are_skipped_but_keep_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    write_rows(path, [service_row("a"), dict.fromkeys(COLUMNS, ""), service_row("b", country="")])
    assert validate(read_rows(path)) == [RowError(4, "country", "required")]


def test_cells_outside_the_header_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "extra.csv"
    write_rows(path, [service_row()])
    path.write_text(
        path.read_text(encoding="utf-8").rstrip("\r\n") + ",stray\r\n", encoding="utf-8"
    )
    assert validate(read_rows(path)) == [RowError(2, "", "cells outside the named columns")]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_files_keep_every_cell(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"rich{suffix}"
    rows = rich_rows()
    write_rows(path, rows)
    assert read_rows(path) == rows


def test_xlsx_cells_typed_by_a_spreadsheet_read_as_text(tmp_path: Path) -> None:
    row = service_row()
    typed = {
        "lat": 41.5, "lon": 19.0, "last_verified": dt.datetime(2025, 3, 8), "phones": 112,
        "demo": True,
    }  # fmt: skip
    workbook = Workbook()
    workbook.active.append(list(row))
    workbook.active.append([typed.get(column, value) for column, value in row.items()])
    path = tmp_path / "typed.xlsx"
    workbook.save(path)
    [read] = read_rows(path)
    assert {column: read[column] for column in typed} == {
        "lat": "41.5", "lon": "19", "last_verified": "2025-03-08", "phones": "112", "demo": "yes",
    }  # fmt: skip
    assert validate([read]) == []


@pytest.mark.parametrize("bad", BAD_FILES, ids=lambda bad: bad.name)
def test_a_file_that_cannot_be_read_raises_one_error(tmp_path: Path, bad: BadFile) -> None:
    path = tmp_path / bad.name
    bad.write(path)
    with pytest.raises(FileError) as raised:
        read_rows(path)
    assert raised.value.path == path
    assert str(raised.value).startswith(f"cannot read {path}: {bad.reason}")
    assert "\n" not in str(raised.value)


def test_a_header_only_file_in_the_format_is_an_empty_directory(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    write_rows(path, [])
    assert read_rows(path) == []


@pytest.mark.parametrize(
    ("cell", "always_open", "intervals"),
    [
        ("24/7", True, []),
        ("", False, []),
        ("mon-wed,fri 08:00-16:00", False, [(d, "08:00", "16:00") for d in (0, 1, 2, 4)]),
        ("sun 20:00-24:00", False, [(6, "20:00", "00:00")]),
        ("Sat 09:00 - 13:00, 14:00-15:00", False, [(5, "09:00", "13:00"), (5, "14:00", "15:00")]),
    ],
)
def test_hours(cell: str, always_open: bool, intervals: list[tuple[int, str, str]]) -> None:
    expected = tuple(
        Interval(day, dt.time.fromisoformat(opens), dt.time.fromisoformat(closes))
        for day, opens, closes in intervals
    )
    assert parse_hours(cell) == (always_open, expected)
    assert parse_hours(format_hours(always_open, expected)) == (always_open, expected)


def test_hours_are_written_compactly() -> None:
    _, intervals = parse_hours(
        "mon 08:00-16:00; tue-fri 08:00-16:00; sat 20:00-24:00; wed 18:00-19:00"
    )
    assert format_hours(False, intervals) == (
        "mon-tue,thu-fri 08:00-16:00; wed 08:00-16:00,18:00-19:00; sat 20:00-24:00"
    )


@pytest.mark.parametrize("cell", ["mon-fri", "mon 25:00-26:00", "funday 08:00-09:00", "mon 08:00"])
def test_bad_hours(cell: str) -> None:
    with pytest.raises(ValueError):
        parse_hours(cell)
