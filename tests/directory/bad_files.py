"""Directory files that cannot be read as a whole, each with the reason it must be refused for.

Most hold good service rows besides the defect, so that a reader that skipped
the defect, or a partial import, would have something to import.
"""

from __future__ import annotations

import csv
import random
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from bot.directory.io import COLUMNS, Row, write_rows

from .rows import service_row


@dataclass(frozen=True)
class BadFile:
    """``write`` makes the file at the given path; the error must start with ``reason``."""

    name: str
    write: Callable[[Path], None]
    reason: str


def _good_rows(**second: str) -> list[Row]:
    return [service_row("test-file-01"), service_row("test-file-02", **second)]


def _encoded(encoding: str) -> Callable[[Path], None]:
    """A CSV saved in another encoding than UTF-8 (as spreadsheets offer to)."""

    def write(path: Path) -> None:
        write_rows(path, _good_rows(address="Rruga Shkozë 3"))
        path.write_bytes(path.read_text(encoding="utf-8").encode(encoding))

    return write


def _nul_byte(path: Path) -> None:
    write_rows(path, _good_rows(address="Rruga\x00 3"))


def _huge_cell(path: Path) -> None:
    write_rows(path, _good_rows(description_en="x" * (csv.field_size_limit() + 1)))


def _open_quote(path: Path) -> None:
    """Rows after a quote that is never closed would silently become one cell."""
    write_rows(path, _good_rows())
    with path.open("a", encoding="utf-8", newline="") as file:
        file.write('"test-file-03,the quote is never closed\r\n')


def _random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(10).randbytes(5000))


def _truncated_xlsx(path: Path) -> None:
    write_rows(path, _good_rows())
    path.write_bytes(path.read_bytes()[:2000])


def _zip_without_workbook(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not a workbook")


def _workbook_without_worksheet(path: Path) -> None:
    """A workbook whose only sheet was lost; openpyxl opens it with no sheet at all."""
    good = path.with_name("good.xlsx")
    write_rows(good, _good_rows())
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w") as archive:
        for name in source.namelist():
            if not name.startswith("xl/worksheets/"):
                archive.writestr(name, source.read(name))
    good.unlink()


def _table(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """Write a table that write_rows would not: any header, as .csv or .xlsx."""
    if path.suffix == ".csv":
        with path.open("w", encoding="utf-8", newline="") as file:
            csv.writer(file).writerows([header, *rows])
        return
    workbook = Workbook()
    for cells in [header, *rows]:
        workbook.active.append(cells)
    workbook.save(path)


def _duplicate_column(path: Path) -> None:
    """``phones`` twice, the second with the spaces the header is stripped of."""
    rows = [[row[column] for column in COLUMNS] + ["+355 40 000 009"] for row in _good_rows()]
    _table(path, [*COLUMNS, " phones "], rows)


def _header_only(path: Path) -> None:
    _table(path, ["notes", "external_id", "Phone"], [])


DUPLICATE = "the header repeats column 'phones' (columns {}, {})".format(
    get_column_letter(COLUMNS.index("phones") + 1), get_column_letter(len(COLUMNS) + 1)
)
HEADER_ONLY = "no service rows, and the header has unknown column(s) 'notes', 'Phone'"
BROKEN_XLSX = "not a valid .xlsx workbook"
NOT_UTF8 = "save it as CSV UTF-8"

BAD_FILES = [
    BadFile("nul-byte.csv", _nul_byte, f"NUL byte on line 3: {NOT_UTF8}"),
    BadFile(
        "huge-cell.csv",
        _huge_cell,
        "bad CSV in the row starting on line 3: "
        f"field larger than field limit ({csv.field_size_limit()})",
    ),
    BadFile(
        "open-quote.csv",
        _open_quote,
        "bad CSV in the row starting on line 4: unexpected end of data",
    ),
    BadFile(
        "windows-1252.csv", _encoded("cp1252"), f"byte 0xeb on line 3 is not UTF-8: {NOT_UTF8}"
    ),
    BadFile("utf-16.csv", _encoded("utf-16"), f"byte 0xff on line 1 is not UTF-8: {NOT_UTF8}"),
    BadFile("random.xlsx", _random_bytes, BROKEN_XLSX),
    BadFile("truncated.xlsx", _truncated_xlsx, BROKEN_XLSX),
    BadFile("zip-without-workbook.xlsx", _zip_without_workbook, BROKEN_XLSX),
    BadFile("no-worksheet.xlsx", _workbook_without_worksheet, "the workbook has no worksheet"),
    BadFile("duplicate-column.csv", _duplicate_column, DUPLICATE),
    BadFile("duplicate-column.xlsx", _duplicate_column, DUPLICATE),
    BadFile("header-only.csv", _header_only, HEADER_ONLY),
    BadFile("header-only.xlsx", _header_only, HEADER_ONLY),
    BadFile("missing.csv", lambda _path: None, "No such file or directory"),
    BadFile("directory.ods", _random_bytes, "use a .csv or .xlsx file"),
]
