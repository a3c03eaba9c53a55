"""One directory-file row <-> one typed ``ServiceRecord``.

Parsing checks every cell and collects every problem instead of stopping at the
first, because the people maintaining the file fix them all in one go.
``record_to_row`` writes the one canonical spelling of a record; the importer
compares canonical rows to decide whether anything changed, which is what
makes re-imports and export -> import round trips exact.

The format is documented in ``docs/directory-format.md``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from bot.directory.models import (
    COUNTRIES,
    TEXT_LANGUAGES,
    Category,
    ContactKind,
    EgovConcern,
    ServiceStatus,
    TargetGroup,
)

Row = dict[str, str]
E = TypeVar("E", bound=Category | ServiceStatus | TargetGroup | EgovConcern)

_TEXT_FIELDS = ("name", "description", "how_to_access", "what_to_bring")
_EGOV_TEXT_FIELDS = ("egov_steps", "egov_documents")
CONTACT_COLUMNS: dict[ContactKind, str] = {
    ContactKind.PHONE: "phones",
    ContactKind.WEBSITE: "websites",
    ContactKind.EMAIL: "emails",
    ContactKind.MESSAGING: "messaging",
}
COLUMNS: tuple[str, ...] = (
    "external_id", "organisation_id", "organisation_name", "category", "status", "demo",
    "country", "place", "municipality", "address", "lat", "lon", "remote", "timezone",
    "free", "wheelchair", "sign_language", "interpretation", "target_groups", "languages",
    *CONTACT_COLUMNS.values(), "hours", "closed_days",
    *(f"{name}_{language}" for name in _TEXT_FIELDS for language in TEXT_LANGUAGES),
    "egov_portal_url", "egov_in_person_visit", "egov_concerns",
    *(f"{name}_{language}" for name in _EGOV_TEXT_FIELDS for language in TEXT_LANGUAGES),
    "source", "last_verified", "verified_by",
)  # fmt: skip
REQUIRED_COLUMNS: frozenset[str] = frozenset(
    {"external_id", "organisation_id", "organisation_name", "category", "country"}
    | {f"{name}_{language}" for name in ("name", "description") for language in TEXT_LANGUAGES}
)
_EGOV_COLUMNS = tuple(column for column in COLUMNS if column.startswith("egov_"))
# Column widths of the database, checked here so that a long cell is a row error,
# not a failed transaction.
_MAX_LENGTH: dict[str, int] = {
    "external_id": 100, "organisation_id": 100, "organisation_name": 300, "municipality": 200,
    "address": 500, "source": 500, "verified_by": 200, "egov_portal_url": 500,
    **{f"name_{language}": 300 for language in TEXT_LANGUAGES},
}  # fmt: skip
CONTACT_VALUE_MAX, CONTACT_NOTE_MAX = 500, 200
# tzdb zone of each country, used when neither the row nor its place gives one.
COUNTRY_TIMEZONES: dict[str, str] = {
    "AL": "Europe/Tirane", "XK": "Europe/Belgrade", "MK": "Europe/Skopje",
    "RS": "Europe/Belgrade", "BA": "Europe/Sarajevo", "ME": "Europe/Podgorica",
    "MD": "Europe/Chisinau", "UA": "Europe/Kyiv",
}  # fmt: skip
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALWAYS_OPEN = "24/7"

_ID = re.compile(r"^[A-Za-z0-9._-]+$")
_PHONE = re.compile(r"^\+?[0-9 ]+$")
_EMAIL = re.compile(r"^[^@\s;]+@[^@\s;]+\.[^@\s;]+$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CONTACT = re.compile(r"^(?P<value>[^()]*?)\s*(?:\((?P<note>[^()]*)\))?$")
_HOURS_GROUP = re.compile(r"^(?P<days>[^\d]+?)\s*(?P<times>\d.*)$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_YES = frozenset({"yes", "y", "true", "1"})
_NO = frozenset({"no", "n", "false", "0", ""})


class Place(Protocol):
    """What the directory needs from a gazetteer place (``bot.places.Place``)."""

    @property
    def id(self) -> str: ...
    @property
    def country(self) -> str: ...
    @property
    def timezone(self) -> str: ...


ResolvePlace = Callable[[str], Place | None]


@dataclass(frozen=True, order=True)
class RowError:
    """One problem in one cell; ``line`` is the spreadsheet row (the header is row 1)."""

    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.line}, column {self.column or '(none)'}: {self.reason}"


@dataclass(frozen=True, order=True)
class Interval:
    """Open on ``weekday`` (0 = Monday) from ``opens``; ``closes`` <= ``opens`` is next day."""

    weekday: int
    opens: dt.time
    closes: dt.time


@dataclass(frozen=True)
class Contact:
    kind: ContactKind
    value: str
    note: str | None


@dataclass(frozen=True)
class Texts:
    name: str
    description: str
    how_to_access: str | None
    what_to_bring: str | None


@dataclass(frozen=True)
class EgovTexts:
    steps: tuple[str, ...]
    documents: tuple[str, ...]


@dataclass(frozen=True)
class Egov:
    portal_url: str | None
    in_person_visit: bool
    concerns: tuple[EgovConcern, ...]
    texts: dict[str, EgovTexts]


@dataclass(frozen=True)
class ServiceRecord:
    """A service as the file describes it, in canonical form (sorted, de-duplicated)."""

    external_id: str
    organisation_id: str
    organisation_name: str
    category: Category
    status: ServiceStatus
    demo: bool
    country: str
    place_id: str | None
    municipality: str | None
    address: str | None
    lat: float | None
    lon: float | None
    remote: bool
    timezone: str
    free: bool
    wheelchair: bool
    sign_language: bool
    interpretation: bool
    target_groups: tuple[TargetGroup, ...]
    languages: tuple[str, ...]
    contacts: tuple[Contact, ...]
    always_open: bool
    hours: tuple[Interval, ...]
    closed_days: tuple[dt.date, ...]
    texts: dict[str, Texts]
    egov: Egov | None
    source: str | None
    last_verified: dt.date | None
    verified_by: str | None


# Record fields that are plain columns of ``Service`` under the same name.
SCALAR_FIELDS: tuple[str, ...] = (
    "external_id", "category", "status", "demo", "country", "place_id", "municipality",
    "address", "lat", "lon", "remote", "timezone", "free", "wheelchair", "sign_language",
    "interpretation", "always_open", "source", "last_verified", "verified_by",
)  # fmt: skip


@dataclass
class _Cells:
    """Reads the cells of one row, recording a ``RowError`` for each bad one."""

    row: Row
    line: int
    errors: list[RowError] = field(default_factory=list)

    def error(self, column: str, reason: str) -> None:
        self.errors.append(RowError(self.line, column, reason))

    def errors_in(self, *columns: str) -> bool:
        return any(error.column in columns for error in self.errors)

    def raw(self, column: str) -> str:
        return (self.row.get(column) or "").strip()

    def text(self, column: str, *, required: bool = False) -> str | None:
        value = self.raw(column)
        if not value:
            if required:
                self.error(column, "required")
            return None
        limit = _MAX_LENGTH.get(column)
        if limit is not None and len(value) > limit:
            self.error(column, f"too long ({len(value)} characters, at most {limit})")
        return value

    def identifier(self, column: str) -> str | None:
        value = self.text(column, required=True)
        if value is not None and not _ID.match(value):
            self.error(column, "only letters, digits, '.', '_' and '-' are allowed")
        return value

    def flag(self, column: str) -> bool:
        value = self.raw(column).lower()
        if value not in _YES | _NO:
            self.error(column, f"'{self.raw(column)}' is not yes or no")
        return value in _YES

    def choice(self, column: str, vocabulary: type[E], *, required: bool) -> E | None:
        value = self.raw(column).lower()
        if not value:
            if required:
                self.error(column, "required")
            return None
        if value not in vocabulary._value2member_map_:
            self.error(column, f"unknown {_vocabulary_name(column)} '{value}'")
            return None
        return vocabulary(value)

    def choices(self, column: str, vocabulary: type[E], *, required: bool = False) -> tuple[E, ...]:
        found: set[E] = set()
        for value in split_items(self.raw(column).lower()):
            if value in vocabulary._value2member_map_:
                found.add(vocabulary(value))
            else:
                self.error(column, f"unknown {_vocabulary_name(column)} '{value}'")
        if required and not self.raw(column):
            self.error(column, "required")
        return tuple(sorted(found))

    def date(self, column: str) -> dt.date | None:
        value = self.raw(column)
        return self._date(column, value) if value else None

    def _date(self, column: str, value: str) -> dt.date | None:
        try:
            if _DATE.match(value):
                return dt.date.fromisoformat(value)
        except ValueError:
            pass
        self.error(column, f"bad date '{value}', expected YYYY-MM-DD")
        return None

    def dates(self, column: str) -> tuple[dt.date, ...]:
        parsed = (self._date(column, value) for value in split_items(self.raw(column)))
        return tuple(sorted({day for day in parsed if day is not None}))

    def coordinate(self, column: str, limit: float) -> float | None:
        value = self.raw(column)
        if not value:
            return None
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or abs(number) > limit:
            self.error(column, f"'{value}' is not a number between -{limit:g} and {limit:g}")
            return None
        return number

    def url(self, column: str) -> str | None:
        value = self.text(column)
        if value is not None and not is_url(value):
            self.error(column, f"bad URL '{value}', expected http:// or https://")
        return value

    def items(self, column: str, *, required: bool = False) -> tuple[str, ...]:
        """Ordered items (steps, documents) separated by ';' or line breaks."""
        values = tuple(split_items(self.raw(column), lines=True))
        if required and not values:
            self.error(column, "required")
        return values


def split_items(value: str, *, lines: bool = False) -> list[str]:
    """Split a multi-valued cell on ';' (and line breaks if ``lines``), dropping blanks."""
    if lines:
        value = value.replace("\r", "\n").replace("\n", ";")
    return [item.strip() for item in value.split(";") if item.strip()]


def is_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and "." in parts.netloc and " " not in value


def is_phone(value: str) -> bool:
    """E.164-ish: digits and spaces, an optional leading '+', at least three digits (112)."""
    return bool(_PHONE.match(value)) and sum(ch.isdigit() for ch in value) >= 3


_VOCABULARY_NAMES = {
    "category": "category", "status": "status", "target_groups": "target group",
    "egov_concerns": "concern",
}  # fmt: skip


def _vocabulary_name(column: str) -> str:
    return _VOCABULARY_NAMES.get(column, column)


@cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def parse_row(
    row: Row, line: int, resolve_place: ResolvePlace
) -> tuple[ServiceRecord | None, list[RowError]]:
    """Return the row's record, or None and every problem found in it."""
    cells = _Cells(row, line)
    country = _country(cells)
    place = _place(cells, country, resolve_place)
    lat, lon = cells.coordinate("lat", 90), cells.coordinate("lon", 180)
    if (lat is None) != (lon is None) and not cells.errors_in("lat", "lon"):
        cells.error("lat" if lat is None else "lon", "give both lat and lon, or neither")
    always_open, hours = _hours(cells)
    category = cells.choice("category", Category, required=True)
    values = dict(
        external_id=cells.identifier("external_id"),
        organisation_id=cells.identifier("organisation_id"),
        organisation_name=cells.text("organisation_name", required=True),
        category=category,
        status=cells.choice("status", ServiceStatus, required=False) or ServiceStatus.ACTIVE,
        demo=cells.flag("demo"),
        country=country,
        place_id=str(place.id) if place else None,
        municipality=cells.text("municipality"),
        address=cells.text("address"),
        lat=lat,
        lon=lon,
        remote=cells.flag("remote"),
        timezone=_timezone(cells, country, place),
        free=cells.flag("free"),
        wheelchair=cells.flag("wheelchair"),
        sign_language=cells.flag("sign_language"),
        interpretation=cells.flag("interpretation"),
        target_groups=cells.choices("target_groups", TargetGroup),
        languages=_languages(cells),
        contacts=_contacts(cells),
        always_open=always_open,
        hours=hours,
        closed_days=cells.dates("closed_days"),
        texts=_texts(cells),
        egov=_egov(cells, category),
        source=cells.text("source"),
        last_verified=cells.date("last_verified"),
        verified_by=cells.text("verified_by"),
    )
    if cells.errors:
        return None, cells.errors
    # Without errors every required value is set, which the type checker cannot see.
    return ServiceRecord(**values), []  # type: ignore[arg-type]


def _country(cells: _Cells) -> str | None:
    value = cells.raw("country").upper()
    if not value:
        cells.error("country", "required")
        return None
    if value not in COUNTRIES:
        cells.error("country", f"unknown country '{value}', expected one of {' '.join(COUNTRIES)}")
        return None
    return value


def _place(cells: _Cells, country: str | None, resolve_place: ResolvePlace) -> Place | None:
    name = cells.raw("place")
    if not name:
        return None
    place = resolve_place(name)
    if place is None:
        cells.error("place", f"unknown place '{name}'")
    elif country is not None and place.country != country:
        cells.error("place", f"'{name}' is in {place.country}, not in {country}")
    return place


def _timezone(cells: _Cells, country: str | None, place: Place | None) -> str | None:
    value = cells.raw("timezone")
    if value:
        if value not in _timezones():
            cells.error("timezone", f"unknown time zone '{value}', expected e.g. Europe/Tirane")
        return value
    if place is not None and place.timezone:
        return place.timezone
    return COUNTRY_TIMEZONES.get(country or "")


def _languages(cells: _Cells) -> tuple[str, ...]:
    found: set[str] = set()
    for value in split_items(cells.raw("languages").lower()):
        if _LANGUAGE.match(value):
            found.add(value)
        else:
            cells.error("languages", f"'{value}' is not an ISO 639 language code such as sq or rom")
    return tuple(sorted(found))


def _contacts(cells: _Cells) -> tuple[Contact, ...]:
    contacts: list[Contact] = []
    for kind, column in CONTACT_COLUMNS.items():
        for item in split_items(cells.raw(column)):
            contact = _contact(cells, kind, column, item)
            if contact is not None:
                contacts.append(contact)
    return tuple(contacts)


def _contact(cells: _Cells, kind: ContactKind, column: str, item: str) -> Contact | None:
    match = _CONTACT.match(item)
    if match is None or not match["value"]:
        cells.error(column, f"'{item}' is not VALUE or VALUE (note)")
        return None
    value, note = match["value"], (match["note"] or "").strip() or None
    problem = _contact_problem(kind, value)
    if problem is None and len(value) > CONTACT_VALUE_MAX:
        problem = f"too long (at most {CONTACT_VALUE_MAX} characters)"
    if problem is None and note is not None and len(note) > CONTACT_NOTE_MAX:
        problem = f"note too long (at most {CONTACT_NOTE_MAX} characters)"
    if problem is not None:
        cells.error(column, problem)
        return None
    return Contact(kind, value, note)


def _contact_problem(kind: ContactKind, value: str) -> str | None:
    if kind is ContactKind.PHONE and not is_phone(value):
        return f"bad phone number '{value}': digits, spaces and a leading + only, at least 3 digits"
    if kind is ContactKind.WEBSITE and not is_url(value):
        return f"bad URL '{value}', expected http:// or https://"
    if kind is ContactKind.EMAIL and not _EMAIL.match(value):
        return f"bad e-mail address '{value}'"
    return None


def _hours(cells: _Cells) -> tuple[bool, tuple[Interval, ...]]:
    try:
        return parse_hours(cells.raw("hours"))
    except ValueError as error:
        cells.error("hours", f"bad hours: {error}")
        return False, ()


def parse_hours(value: str) -> tuple[bool, tuple[Interval, ...]]:
    """Return (always open, weekly intervals) of an hours cell; ValueError says what is wrong."""
    if value.strip().lower() == ALWAYS_OPEN:
        return True, ()
    intervals: set[Interval] = set()
    for group in split_items(value.lower()):
        match = _HOURS_GROUP.match(group)
        if match is None:
            raise ValueError(f"'{group}' should be days and times, e.g. mon-fri 08:00-16:00")
        days = _parse_days(match["days"].replace(" ", ""))
        for span in match["times"].replace(" ", "").split(","):
            opens, closes = _parse_span(span)
            intervals.update(Interval(day, opens, closes) for day in days)
    return False, tuple(sorted(intervals))


def _parse_days(text: str) -> list[int]:
    days: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        start, end = _weekday(first), _weekday(last or first)
        if end < start:
            raise ValueError(f"day range '{part}' runs backwards")
        days.extend(range(start, end + 1))
    return days


def _weekday(text: str) -> int:
    if text not in WEEKDAYS:
        raise ValueError(f"unknown day '{text}', expected one of {' '.join(WEEKDAYS)}")
    return WEEKDAYS.index(text)


def _parse_span(span: str) -> tuple[dt.time, dt.time]:
    opens, separator, closes = span.partition("-")
    if not separator:
        raise ValueError(f"'{span}' should be HH:MM-HH:MM")
    return _parse_time(opens, closing=False), _parse_time(closes, closing=True)


def _parse_time(text: str, *, closing: bool) -> dt.time:
    match = _TIME.match(text)
    hour, minute = (int(match[1]), int(match[2])) if match else (99, 99)
    if closing and (hour, minute) == (24, 0):
        return dt.time(0, 0)
    if hour > 23 or minute > 59:
        raise ValueError(f"bad time '{text}', expected HH:MM")
    return dt.time(hour, minute)


def _texts(cells: _Cells) -> dict[str, Texts]:
    return {
        language: Texts(
            name=cells.text(f"name_{language}", required=True) or "",
            description=cells.text(f"description_{language}", required=True) or "",
            how_to_access=cells.text(f"how_to_access_{language}"),
            what_to_bring=cells.text(f"what_to_bring_{language}"),
        )
        for language in TEXT_LANGUAGES
    }


def _egov(cells: _Cells, category: Category | None) -> Egov | None:
    if not any(cells.raw(column) for column in _EGOV_COLUMNS):
        if category is Category.EGOV_SERVICE:
            cells.error("egov_concerns", "required for category egov_service")
        return None
    return Egov(
        portal_url=cells.url("egov_portal_url"),
        in_person_visit=cells.flag("egov_in_person_visit"),
        concerns=cells.choices("egov_concerns", EgovConcern, required=True),
        texts={
            language: EgovTexts(
                steps=cells.items(f"egov_steps_{language}", required=True),
                documents=cells.items(f"egov_documents_{language}"),
            )
            for language in TEXT_LANGUAGES
        },
    )


def record_to_row(record: ServiceRecord) -> Row:
    """Write ``record`` in the canonical spelling that ``parse_row`` reads back unchanged."""
    row: Row = {
        "external_id": record.external_id,
        "organisation_id": record.organisation_id,
        "organisation_name": record.organisation_name,
        "category": record.category.value,
        "status": record.status.value,
        "demo": _yes_no(record.demo),
        "country": record.country,
        "place": record.place_id or "",
        "municipality": record.municipality or "",
        "address": record.address or "",
        "lat": _number(record.lat),
        "lon": _number(record.lon),
        "remote": _yes_no(record.remote),
        "timezone": record.timezone,
        "free": _yes_no(record.free),
        "wheelchair": _yes_no(record.wheelchair),
        "sign_language": _yes_no(record.sign_language),
        "interpretation": _yes_no(record.interpretation),
        "target_groups": _join(group.value for group in record.target_groups),
        "languages": _join(record.languages),
        **_contact_cells(record.contacts),
        "hours": format_hours(record.always_open, record.hours),
        "closed_days": _join(day.isoformat() for day in record.closed_days),
        **_text_cells(record.texts),
        **_egov_cells(record.egov),
        "source": record.source or "",
        "last_verified": record.last_verified.isoformat() if record.last_verified else "",
        "verified_by": record.verified_by or "",
    }
    return {column: row[column] for column in COLUMNS}


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _number(value: float | None) -> str:
    return "" if value is None else repr(value)


def _join(values: Iterable[str]) -> str:
    return "; ".join(values)


def _contact_cells(contacts: tuple[Contact, ...]) -> Row:
    return {
        column: _join(
            f"{contact.value} ({contact.note})" if contact.note else contact.value
            for contact in contacts
            if contact.kind is kind
        )
        for kind, column in CONTACT_COLUMNS.items()
    }


def _text_cells(texts: dict[str, Texts]) -> Row:
    cells: Row = {}
    for language in TEXT_LANGUAGES:
        text = texts.get(language)
        for name in _TEXT_FIELDS:
            cells[f"{name}_{language}"] = (getattr(text, name) if text else None) or ""
    return cells


def _egov_cells(egov: Egov | None) -> Row:
    if egov is None:
        return {column: "" for column in _EGOV_COLUMNS}
    cells: Row = {
        "egov_portal_url": egov.portal_url or "",
        "egov_in_person_visit": _yes_no(egov.in_person_visit),
        "egov_concerns": _join(concern.value for concern in egov.concerns),
    }
    for language in TEXT_LANGUAGES:
        texts = egov.texts.get(language, EgovTexts((), ()))
        cells[f"egov_steps_{language}"] = _join(texts.steps)
        cells[f"egov_documents_{language}"] = _join(texts.documents)
    return cells


def format_hours(always_open: bool, intervals: Iterable[Interval]) -> str:
    """Write the weekly schedule compactly: days with the same times share one group."""
    if always_open:
        return ALWAYS_OPEN
    spans_by_day: dict[int, list[str]] = {}
    for interval in sorted(intervals):
        spans_by_day.setdefault(interval.weekday, []).append(
            f"{interval.opens:%H:%M}-{_closing(interval.closes)}"
        )
    days_by_spans: dict[str, list[int]] = {}
    for day, spans in spans_by_day.items():
        days_by_spans.setdefault(",".join(spans), []).append(day)
    return _join(f"{_format_days(days)} {spans}" for spans, days in days_by_spans.items())


def _closing(closes: dt.time) -> str:
    return "24:00" if closes == dt.time(0, 0) else f"{closes:%H:%M}"


def _format_days(days: list[int]) -> str:
    runs: list[list[int]] = []
    for day in days:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ",".join(
        WEEKDAYS[run[0]] if len(run) == 1 else f"{WEEKDAYS[run[0]]}-{WEEKDAYS[run[-1]]}"
        for run in runs
    )
