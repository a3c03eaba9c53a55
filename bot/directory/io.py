"""Import and export of the referral directory as CSV or XLSX, one row per service.

The file is the directory's source of truth for the people who maintain it, so
import is an upsert by ``external_id`` that changes nothing, and writes no audit
entry, when a row says what the database already holds. The format is
documented in ``docs/directory-format.md``.

Sessions are the caller's: ``import_rows`` flushes but never commits.
"""

from __future__ import annotations

import csv
import datetime as dt
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from io import BytesIO, StringIO
from pathlib import Path
from typing import Any, TypeVar

from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql.base import ExecutableOption

from bot.directory.models import (
    TEXT_LANGUAGES,
    AuditAction,
    AuditEntry,
    ClosedDay,
    ContactPoint,
    EgovProcedure,
    EgovProcedureConcern,
    EgovProcedureText,
    OpeningHours,
    Organisation,
    Service,
    ServiceLanguage,
    ServiceTargetGroup,
    ServiceText,
)
from bot.directory.records import (
    COLUMNS,
    REQUIRED_COLUMNS,
    SCALAR_FIELDS,
    Contact,
    Egov,
    EgovTexts,
    Interval,
    Place,
    ResolvePlace,
    Row,
    RowError,
    ServiceRecord,
    Texts,
    parse_row,
    record_to_row,
    split_items,
)
from bot.directory.search_keys import reindex

__all__ = [
    "COLUMNS",
    "FileError",
    "ImportResult",
    "Row",
    "RowError",
    "export",
    "import_rows",
    "read_rows",
    "validate",
    "write_rows",
]

HEADER_LINE = 1
UNNAMED_COLUMN = ""  # key of cells that stand beyond the header or under an empty one
_SERVICE_ONLY = tuple(column for column in COLUMNS if column != "organisation_name")
Child = TypeVar("Child")


@dataclass
class ImportResult:
    """What an import did; ``errors`` lists the rows that were not imported."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)


# Files

_SAVE_AS_UTF8 = "save it as CSV UTF-8"


class FileError(ValueError):
    """A file that cannot be read as a whole, so that no row of it can be trusted or imported."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot read {path}: {reason}")
        self.path = path
        self.reason = reason


def read_rows(path: Path) -> list[Row]:
    """Read a .csv or .xlsx directory file; blank rows are kept so row numbers stay right.

    Raises FileError when the file cannot be read as a table with one named
    column per header cell; problems of single rows are left to ``validate``.
    """
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise FileError(path, "use a .csv or .xlsx file")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise FileError(path, error.strerror or str(error)) from error
    table = _csv_table(path, data) if suffix == ".csv" else _xlsx_table(path, data)
    if not table:
        return []
    header = [name.strip() for name in table[0]]
    rows = [_row(header, cells) for cells in table[1:]]
    _check_header(path, header, any(_filled(row) for row in rows))
    return rows


def _csv_table(path: Path, data: bytes) -> list[list[str]]:
    """Decode and parse strictly: a lenient reader would silently make one cell
    of every row that follows a quote that is never closed.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise FileError(
            path, f"byte 0x{data[error.start]:02x} on line {line} is not UTF-8: {_SAVE_AS_UTF8}"
        ) from error
    if "\0" in text:  # the csv module accepts NUL, PostgreSQL text cannot hold it
        line = text.count("\n", 0, text.index("\0")) + 1
        raise FileError(path, f"NUL byte on line {line}: {_SAVE_AS_UTF8}")
    reader = csv.reader(StringIO(text, newline=""), strict=True)
    table: list[list[str]] = []
    start = 1
    try:
        for cells in reader:
            table.append(cells)
            start = reader.line_num + 1
    except csv.Error as error:
        raise FileError(path, f"bad CSV in the row starting on line {start}: {error}") from error
    return table


def _xlsx_table(path: Path, data: bytes) -> list[list[str]]:
    return [[_cell_text(value) for value in cells] for cells in _xlsx_values(path, data)]


def _xlsx_values(path: Path, data: bytes) -> list[tuple[Any, ...]]:
    """The first sheet's values, read whole so that a damaged sheet fails here, not midway."""
    try:
        with warnings.catch_warnings():  # about styles and extensions: only values matter here
            warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
            workbook = load_workbook(BytesIO(data), read_only=True, data_only=True)
            try:
                sheets = workbook.worksheets
                values = list(sheets[0].values) if sheets else None
            finally:
                workbook.close()
    except Exception as error:  # noqa: BLE001
        # openpyxl reports a damaged workbook with whatever its zip and XML parsing
        # stops at: BadZipFile, zlib.error, KeyError, ParseError, TypeError, ...
        raise FileError(path, f"not a valid .xlsx workbook ({_detail(error)})") from error
    if values is None:
        raise FileError(path, "the workbook has no worksheet")
    return values


def _detail(error: Exception) -> str:
    """The library's own words, without the quotes KeyError puts around them."""
    text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    return text or type(error).__name__


def _check_header(path: Path, header: list[str], has_rows: bool) -> None:
    """Refuse a header that would lose cells, or that says the file is no directory at all.

    A repeated column keeps only its last cell. Unknown columns are row-1
    problems for ``validate`` when rows follow; with no rows they are all there is.
    """
    indexes: dict[str, list[int]] = {}
    for index, name in enumerate(header):
        if name:
            indexes.setdefault(name, []).append(index)
    repeated = [
        f"'{name}' (columns {', '.join(get_column_letter(index + 1) for index in found)})"
        for name, found in indexes.items()
        if len(found) > 1
    ]
    if repeated:
        raise FileError(path, f"the header repeats column {'; '.join(repeated)}")
    unknown = _unknown_columns(header)
    if unknown and not has_rows:
        names = ", ".join(f"'{name}'" for name in unknown)
        raise FileError(path, f"no service rows, and the header has unknown column(s) {names}")


def _unknown_columns(names: Iterable[str]) -> list[str]:
    return [name for name in names if name != UNNAMED_COLUMN and name not in COLUMNS]


def _filled(row: Row) -> bool:
    return any(value.strip() for value in row.values())


def _cell_text(value: Any) -> str:
    """Spell a spreadsheet cell as the CSV would: dates ISO, whole numbers without '.0'."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _row(header: list[str], cells: list[str]) -> Row:
    row = {name: "" for name in header if name}
    unnamed = []
    for index, value in enumerate(cells):
        name = header[index] if index < len(header) else ""
        if name:
            row[name] = value
        elif value.strip():
            unnamed.append(value)
    if unnamed:
        row[UNNAMED_COLUMN] = "; ".join(unnamed)
    return row


def write_rows(path: Path, rows: Sequence[Row]) -> None:
    """Write rows in the column order of the format, as .csv or .xlsx by extension."""
    suffix = path.suffix.lower()
    table = [list(COLUMNS)] + [[row.get(column, "") for column in COLUMNS] for row in rows]
    if suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as file:
            csv.writer(file).writerows(table)
    elif suffix == ".xlsx":
        _write_xlsx(path, table)
    else:
        raise ValueError(f"cannot write '{path.name}': use a .csv or .xlsx file")


def _write_xlsx(path: Path, table: list[list[str]]) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "services"
    for cells in table:
        sheet.append(cells)
    for cells in sheet.iter_rows():
        for cell in cells:
            if cell.data_type == "f":  # a text starting with '=' is text, not a formula
                cell.data_type = "s"
    sheet.freeze_panes = "B2"
    workbook.save(path)


# Validation


@dataclass
class _Checked:
    records: list[ServiceRecord]
    errors: list[RowError]


def validate(rows: Sequence[Row], resolve_place: ResolvePlace | None = None) -> list[RowError]:
    """Return every problem of every row, in row order (header problems first)."""
    return _check(rows, resolve_place).errors


def _check(rows: Sequence[Row], resolve_place: ResolvePlace | None) -> _Checked:
    header_errors, missing = _header_errors(rows)
    resolve = resolve_place or _gazetteer_resolver(rows)
    records: list[ServiceRecord] = []
    errors: list[RowError] = list(header_errors)
    first_line_of_id: dict[str, int] = {}
    organisation_names: dict[str, tuple[str, int]] = {}
    for index, row in enumerate(rows):
        line = index + HEADER_LINE + 1
        if not _filled(row):
            continue
        record, row_errors = parse_row(row, line, resolve)
        row_errors = [error for error in row_errors if error.column not in missing]
        row_errors += _cross_row_errors(row, line, first_line_of_id, organisation_names)
        errors += sorted(row_errors, key=lambda error: _column_order(error.column))
        if record is not None and not row_errors:
            records.append(record)
    return _Checked(records, errors)


def _header_errors(rows: Sequence[Row]) -> tuple[list[RowError], set[str]]:
    present = {column for row in rows for column in row}
    missing = REQUIRED_COLUMNS - present if rows else set()
    errors = [RowError(HEADER_LINE, column, "required column is missing") for column in missing]
    errors += [
        RowError(HEADER_LINE, column, "unknown column") for column in _unknown_columns(present)
    ]
    errors += [
        RowError(index + HEADER_LINE + 1, UNNAMED_COLUMN, "cells outside the named columns")
        for index, row in enumerate(rows)
        if row.get(UNNAMED_COLUMN)
    ]
    return sorted(errors, key=lambda error: (error.line, _column_order(error.column))), missing


def _column_order(column: str) -> int:
    return COLUMNS.index(column) if column in COLUMNS else len(COLUMNS)


def _cross_row_errors(
    row: Row,
    line: int,
    first_line_of_id: dict[str, int],
    organisation_names: dict[str, tuple[str, int]],
) -> list[RowError]:
    """Duplicates and contradictions between rows: the first row wins, later ones are bad.

    Read from the raw cells, so that they are found even in rows with other problems.
    """
    errors = []
    external_id = (row.get("external_id") or "").strip()
    first = first_line_of_id.setdefault(external_id, line) if external_id else line
    if first != line:
        errors.append(RowError(line, "external_id", f"duplicate external_id (also row {first})"))
    organisation_id = (row.get("organisation_id") or "").strip()
    organisation_name = (row.get("organisation_name") or "").strip()
    if organisation_id and organisation_name:
        name, name_line = organisation_names.setdefault(organisation_id, (organisation_name, line))
        if name != organisation_name:
            errors.append(
                RowError(line, "organisation_name", f"differs from row {name_line}: '{name}'")
            )
    return errors


def _gazetteer_resolver(rows: Sequence[Row]) -> ResolvePlace:
    """Load the gazetteer only when some row names a place; accept its ids and names.

    Ids come first because export writes them, which keeps round trips exact.
    """
    if not any((row.get("place") or "").strip() for row in rows):
        return lambda _name: None
    from bot.places import Gazetteer

    gazetteer = Gazetteer.load()

    def resolve(value: str) -> Place | None:
        try:
            return gazetteer.get(value)
        except KeyError:
            return gazetteer.resolve(value)

    return resolve


# Import


def import_rows(
    session: Session,
    rows: Sequence[Row],
    changed_by: str,
    partial: bool = False,
    resolve_place: ResolvePlace | None = None,
) -> ImportResult:
    """Upsert the services of ``rows``; all or nothing unless ``partial``.

    Services absent from ``rows`` are left alone: a file may cover one country.
    """
    if not changed_by.strip():
        raise ValueError("changed_by is required: the audit log names who changed the directory")
    checked = _check(rows, resolve_place)
    result = ImportResult(errors=checked.errors)
    if checked.errors and not partial:
        return result
    now = dt.datetime.now(dt.UTC)
    audit = _Audit(session, changed_by, now)
    organisations = _upsert_organisations(session, checked.records, audit)
    existing = _services_by_external_id(session, [record.external_id for record in checked.records])
    for record in checked.records:
        service = existing.get(record.external_id)
        action = _upsert_service(session, service, record, organisations, audit)
        if action is AuditAction.CREATE:
            result.created.append(record.external_id)
        elif action is AuditAction.UPDATE:
            result.updated.append(record.external_id)
        else:
            result.unchanged += 1
    session.flush()
    return result


@dataclass
class _Audit:
    """Audit entries of one import: one editor, one timestamp, so an import reads as a unit."""

    session: Session
    changed_by: str
    at: dt.datetime

    def record(
        self,
        table: str,
        external_id: str,
        action: AuditAction,
        changes: dict[str, list[str | None]],
    ) -> None:
        self.session.add(
            AuditEntry(
                table_name=table,
                entity_external_id=external_id,
                action=action,
                changed_by=self.changed_by,
                changed_at=self.at,
                changes=changes,
            )
        )


def _upsert_organisations(
    session: Session, records: Iterable[ServiceRecord], audit: _Audit
) -> dict[str, Organisation]:
    names = {record.organisation_id: record.organisation_name for record in records}
    found = session.scalars(select(Organisation).where(Organisation.external_id.in_(names))).all()
    organisations = {organisation.external_id: organisation for organisation in found}
    for external_id, name in names.items():
        organisation = organisations.get(external_id)
        if organisation is None:
            organisations[external_id] = Organisation(external_id=external_id, name=name)
            session.add(organisations[external_id])
            audit.record(
                Organisation.__tablename__, external_id, AuditAction.CREATE,
                {"organisation_name": [None, name]},
            )  # fmt: skip
        elif organisation.name != name:
            audit.record(
                Organisation.__tablename__, external_id, AuditAction.UPDATE,
                {"organisation_name": [organisation.name, name]},
            )  # fmt: skip
            organisation.name = name
            for service in organisation.services:  # the name is searchable
                reindex(service)
    return organisations


def _upsert_service(
    session: Session,
    service: Service | None,
    record: ServiceRecord,
    organisations: dict[str, Organisation],
    audit: _Audit,
) -> AuditAction | None:
    """Create or update one service; return what was done (None: nothing to do)."""
    new_row = record_to_row(record)
    if service is None:
        service = Service()
        session.add(service)
        action = AuditAction.CREATE
        changes: dict[str, list[str | None]] = {
            column: [None, new_row[column]] for column in _SERVICE_ONLY if new_row[column]
        }
    else:
        old_row = record_to_row(_service_record(service))
        changes = {
            column: [old_row[column], new_row[column]]
            for column in _SERVICE_ONLY
            if old_row[column] != new_row[column]
        }
        if not changes:
            return None
        action = AuditAction.UPDATE
    service.organisation = organisations[record.organisation_id]
    _apply(service, record)
    reindex(service)
    audit.record(Service.__tablename__, record.external_id, action, changes)
    return action


def _apply(service: Service, record: ServiceRecord) -> None:
    """Make ``service`` say what ``record`` says, keeping child rows whose key is unchanged."""
    for name in SCALAR_FIELDS:
        setattr(service, name, getattr(record, name))
    service.target_groups = _keyed(
        service.target_groups, record.target_groups, lambda child: child.group,
        lambda group: ServiceTargetGroup(group=group),
    )  # fmt: skip
    service.languages = _keyed(
        service.languages, record.languages, lambda child: child.language,
        lambda language: ServiceLanguage(language=language),
    )  # fmt: skip
    service.closed_days = _keyed(
        service.closed_days, record.closed_days, lambda child: child.day,
        lambda day: ClosedDay(day=day),
    )  # fmt: skip
    service.contacts = [
        ContactPoint(position=position, kind=contact.kind, value=contact.value, note=contact.note)
        for position, contact in enumerate(record.contacts)
    ]
    service.hours = [
        OpeningHours(weekday=interval.weekday, opens=interval.opens, closes=interval.closes)
        for interval in record.hours
    ]
    service.texts = _keyed(
        service.texts, TEXT_LANGUAGES, lambda child: child.language,
        lambda language: ServiceText(language=language),
    )  # fmt: skip
    for text in service.texts:
        for name, value in vars(record.texts[text.language]).items():
            setattr(text, name, value)
    _apply_egov(service, record.egov)


def _apply_egov(service: Service, egov: Egov | None) -> None:
    """Update the procedure in place: replacing it would clash on its unique service_id."""
    if egov is None:
        service.egov = None
        return
    procedure = service.egov or EgovProcedure()
    service.egov = procedure
    procedure.portal_url = egov.portal_url
    procedure.in_person_visit = egov.in_person_visit
    procedure.concerns = _keyed(
        procedure.concerns, egov.concerns, lambda child: child.concern,
        lambda concern: EgovProcedureConcern(concern=concern),
    )  # fmt: skip
    procedure.texts = _keyed(
        procedure.texts, TEXT_LANGUAGES, lambda child: child.language,
        lambda language: EgovProcedureText(language=language),
    )  # fmt: skip
    for text in procedure.texts:
        texts = egov.texts[text.language]
        text.steps = "\n".join(texts.steps)
        text.documents = "\n".join(texts.documents) or None


def _keyed(
    current: list[Child],
    keys: Iterable[Any],
    key_of: Callable[[Child], Any],
    make: Callable[[Any], Child],
) -> list[Child]:
    """Children for ``keys``, reusing current ones so that their primary keys do not churn."""
    by_key = {key_of(child): child for child in current}
    return [by_key.get(key) or make(key) for key in keys]


# Export


def _service_loading() -> list[ExecutableOption]:
    procedure = selectinload(Service.egov)
    return [
        selectinload(Service.organisation),
        selectinload(Service.target_groups),
        selectinload(Service.languages),
        selectinload(Service.contacts),
        selectinload(Service.hours),
        selectinload(Service.closed_days),
        selectinload(Service.texts),
        procedure.selectinload(EgovProcedure.concerns),
        procedure.selectinload(EgovProcedure.texts),
    ]


def _services_by_external_id(session: Session, external_ids: list[str]) -> dict[str, Service]:
    query = select(Service).where(Service.external_id.in_(external_ids))
    loading = [*_service_loading(), selectinload(Service.search_keys)]
    services = session.scalars(query.options(*loading)).all()
    return {service.external_id: service for service in services}


def export(session: Session) -> list[Row]:
    """Return every service as a canonical row, ordered by external_id."""
    query = select(Service).order_by(Service.external_id).options(*_service_loading())
    return [record_to_row(_service_record(service)) for service in session.scalars(query)]


def _service_record(service: Service) -> ServiceRecord:
    """Read a service back into the record that would have created it."""
    return ServiceRecord(
        **{name: getattr(service, name) for name in SCALAR_FIELDS},
        organisation_id=service.organisation.external_id,
        organisation_name=service.organisation.name,
        target_groups=tuple(sorted(child.group for child in service.target_groups)),
        languages=tuple(sorted(child.language for child in service.languages)),
        contacts=tuple(
            Contact(contact.kind, contact.value, contact.note)
            for contact in sorted(service.contacts, key=lambda contact: contact.position)
        ),
        hours=tuple(sorted(Interval(row.weekday, row.opens, row.closes) for row in service.hours)),
        closed_days=tuple(sorted(child.day for child in service.closed_days)),
        texts={
            text.language: Texts(
                text.name, text.description, text.how_to_access, text.what_to_bring
            )
            for text in service.texts
        },
        egov=_egov_record(service.egov),
    )


def _egov_record(procedure: EgovProcedure | None) -> Egov | None:
    if procedure is None:
        return None
    return Egov(
        portal_url=procedure.portal_url,
        in_person_visit=procedure.in_person_visit,
        concerns=tuple(sorted(child.concern for child in procedure.concerns)),
        texts={
            text.language: EgovTexts(
                tuple(split_items(text.steps, lines=True)),
                tuple(split_items(text.documents or "", lines=True)),
            )
            for text in procedure.texts
        },
    )
