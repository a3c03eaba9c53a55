"""Directory search: the services a woman can reach, nearest first.

Ranking (see ``docs/directory.md``):

1. ``nearby``: services with a location (coordinates, else their gazetteer
   place) within ``radius_km`` of her, nearest first;
2. ``country_wide``: remote services (phone, online) of her country, which
   she can reach from anywhere;
3. ``national``: the other services of her country, nearest first, so that a
   shelter 80 km away is still offered when there is none closer.

Services at the same distance (one address, one place) are tied; ties go to
the better text match, then to the most recently verified service. Only active
services are found; demo services are found and flagged.

Speed: SQL reads a few columns of the services in boxes of growing size around
her (indexed lat/lon, category/status/country), only while the page is not
full; Python computes exact distances for those candidates only. Free text is
matched, and its relevance counted, in SQL against keys folded when the
service was written (``bot.directory.search_keys``), so candidates arrive in
rank order. Open now is checked in Python on growing batches of them until the
page is full. Related rows are loaded (``selectinload`` and joins) for the
final page only.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache, cached_property, reduce
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Date,
    Label,
    Row,
    SmallInteger,
    Time,
    and_,
    case,
    cast,
    exists,
    literal_column,
    not_,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session, joinedload, selectinload

from bot.directory.models import (
    Category,
    ClosedDay,
    ContactKind,
    ContactPoint,
    OpeningHours,
    Service,
    ServiceLanguage,
    ServiceStatus,
    ServiceTargetGroup,
    ServiceText,
    TargetGroup,
)
from bot.directory.search_keys import query_keys, service_has
from bot.places import Gazetteer, Place, distance_km
from bot.settings import Language

__all__ = [
    "Accessibility",
    "Match",
    "Opening",
    "Scope",
    "SearchQuery",
    "SearchResult",
    "describe",
    "format_phone",
    "opening",
    "search",
]

DEFAULT_RADIUS_KM = 30.0
MAX_RADIUS_KM = 500.0
MAX_LIMIT = 100
FIRST_RING_KM = 2.0  # a town centre: in a big city, enough for a page of most categories
RING_GROWTH = 4  # 2, 8, 30 km where services are dense...
SPARSE = 4  # ...but 16 times wider (2, 30 km) while fewer than this many have been found
# The database checks free text on every service in a box, matching or not, so
# with text, boxes grow in small steps (2, 4, 8, 16, 30 km): a big box costs what it holds.
TEXT_RING_GROWTH = 2
RING_LIMIT_KM = 1_000.0  # a box this wide covers the whole region: read the rest at once
FIRST_PAGE = 32  # services without a distance read at first, then 4 times as many each time
MAX_BATCH = 4_096  # candidates per open-now batch (bounded IN lists)
HORIZON_DAYS = 15  # how far ahead ``opens_next`` looks: two weeks of holidays and a day
KM_PER_DEGREE = 111.2

# Staff who speak one of these understand a woman writing in the helpline language.
UNDERSTOOD: dict[str, tuple[str, ...]] = {
    "en": ("en",),
    "sq": ("sq",),
    "sr": ("sr", "bs", "hr", "cnr"),
    "mk": ("mk",),
}


class Scope(StrEnum):
    """Why a service is listed: near her, reachable from her whole country, or elsewhere in it."""

    NEARBY = "nearby"
    COUNTRY_WIDE = "country_wide"
    NATIONAL = "national"


_SCOPE_RANK = {Scope.NEARBY: 0, Scope.COUNTRY_WIDE: 1, Scope.NATIONAL: 2}


class Accessibility(StrEnum):
    WHEELCHAIR = "wheelchair"
    SIGN_LANGUAGE = "sign_language"
    INTERPRETATION = "interpretation"


_ACCESS_COLUMNS = {
    Accessibility.WHEELCHAIR: Service.wheelchair,
    Accessibility.SIGN_LANGUAGE: Service.sign_language,
    Accessibility.INTERPRETATION: Service.interpretation,
}


@dataclass(frozen=True)
class SearchQuery:
    """What she needs and where she is.

    Where: a gazetteer ``place``, or ``lat``/``lon`` (with ``country`` for the
    country-wide fallback), or neither. A country as place names no point (it
    sits at its capital, which is not where she is): then only her country's
    services are listed, by scope and verification, without distances.
    """

    category: Category | None = None
    place: Place | None = None
    lat: float | None = None
    lon: float | None = None
    country: str | None = None
    radius_km: float = DEFAULT_RADIUS_KM
    language: Language = "en"
    speaks_language_only: bool = False
    free_only: bool = False
    remote_only: bool = False  # she would rather not say where she is
    open_now: bool = False
    accessibility: frozenset[Accessibility] = frozenset()
    target_group: TargetGroup | None = None
    text: str = ""
    limit: int = 10
    offset: int = 0

    def __post_init__(self) -> None:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or neither")
        if self.place is not None and self.lat is not None:
            raise ValueError("give a place or lat/lon, not both")
        if not 0 < self.radius_km <= MAX_RADIUS_KM:
            raise ValueError(f"radius_km must be above 0 and at most {MAX_RADIUS_KM:g}")
        if not 1 <= self.limit <= MAX_LIMIT or self.offset < 0:
            raise ValueError(f"limit must be 1-{MAX_LIMIT} and offset at least 0")

    @property
    def origin(self) -> tuple[float, float] | None:
        """The point distances are measured from, if she named one."""
        if self.place is not None:
            return None if self.place.kind == "country" else (self.place.lat, self.place.lon)
        if self.lat is None or self.lon is None:
            return None
        return (self.lat, self.lon)

    @property
    def in_country(self) -> str | None:
        """Her country: services elsewhere are not offered (law, police and language change)."""
        return self.place.country if self.place is not None else self.country

    @cached_property
    def text_keys(self) -> frozenset[str]:
        """The free text's search keys, folded once per query (empty without text)."""
        return query_keys(self.text)


@dataclass(frozen=True)
class Opening:
    """Whether a service is open at a moment, in its own time zone.

    ``open_now`` is None when the directory lists no hours (by appointment, or
    unknown). ``opens_next`` (when closed) and ``closes_at`` (when open; None
    if it does not close within two weeks) are local times of the service.
    """

    open_now: bool | None
    opens_next: dt.datetime | None = None
    closes_at: dt.datetime | None = None


@dataclass(frozen=True)
class Match:
    """One service found, with what the UI needs to present it honestly.

    ``service`` comes with its organisation, contacts, hours, upcoming closed
    days, languages, target groups, and its texts in the query's language and
    English (what ``describe`` shows).
    """

    service: Service
    scope: Scope
    distance_km: float | None  # None for country-wide and unlocated services
    relevance: int  # query words matched (0 without free text)
    open_now: bool | None
    opens_next: dt.datetime | None
    closes_at: dt.datetime | None

    @property
    def demo(self) -> bool:
        return self.service.demo


@dataclass(frozen=True)
class SearchResult:
    matches: list[Match]
    has_more: bool


def search(session: Session, query: SearchQuery, now: dt.datetime | None = None) -> SearchResult:
    """The page of services ``query`` asks for, ranked (nearby, country-wide, national)."""
    now = _aware(now)
    end = query.offset + query.limit
    kept = _collect(session, query, _candidates(session, query), end + 1, now)
    page = kept[query.offset : end]
    services = _load(session, [candidate.id for candidate in page], now, query.language)
    return SearchResult(
        [_match(candidate, services[candidate.id], now) for candidate in page],
        has_more=len(kept) > end,
    )


def _aware(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone")
    return now


# -- candidates: cheap rows in rank order, before the open-now filter ------------


@dataclass(slots=True)
class _Candidate:
    id: int
    distance: float | None
    relevance: int  # query keys matched (0 without free text)
    recency: int  # minus the ordinal of last_verified: recent first; never verified (0) last
    timezone: str
    always_open: bool
    scope: Scope = Scope.NATIONAL

    @property
    def rank(self) -> tuple[int, float, int, int, int]:
        """Scope, then distance; ties (one address, one place) by relevance, recency and id."""
        distance = math.inf if self.distance is None else self.distance
        return (_SCOPE_RANK[self.scope], distance, -self.relevance, self.recency, self.id)


_COLUMNS = (
    Service.id,
    Service.lat,
    Service.lon,
    Service.place_id,
    Service.last_verified,
    Service.timezone,
    Service.always_open,
)


def _candidates(session: Session, query: SearchQuery) -> Iterator[_Candidate]:
    """Every candidate, lazily, in rank order."""
    origin = query.origin
    remote = Service.remote.is_(True)
    if origin is None:
        yield from _by_recency(session, query, remote, Scope.COUNTRY_WIDE)
        yield from _by_recency(session, query, Service.remote.is_(False), Scope.NATIONAL)
        return
    rings = _Rings(session, query, origin)
    yield from rings.read(query.radius_km, Scope.NEARBY)
    yield from _by_recency(session, query, remote, Scope.COUNTRY_WIDE)
    yield from rings.read(None, Scope.NATIONAL)


def _by_recency(
    session: Session, query: SearchQuery, area: ColumnElement[bool], scope: Scope
) -> Iterator[_Candidate]:
    """A tier without distances, ranked by the database, read in pages of growing size.

    Such a tier can hold thousands of services (every helpline of a country)
    while the page needs a few, so the database sorts and only the top is read.
    With free text it sorts by relevance first, and the tier ends at the first
    service that matches no query word: filtering those out in ``WHERE`` as
    well would make PostgreSQL look every key up twice.
    """
    keys = query.text_keys
    relevance = _relevance(keys)
    statement = (
        select(*_COLUMNS, relevance)
        .where(*_filters(query), area)
        .order_by(relevance.desc(), Service.last_verified.desc().nulls_last(), Service.id)
    )
    offset, size = 0, FIRST_PAGE
    while True:
        rows = _candidates_of(session.execute(statement.offset(offset).limit(size)), None)
        matching = [candidate for candidate in rows if candidate.relevance or not keys]
        yield from _ranked(matching, scope)
        if len(rows) < size or len(matching) < len(rows):
            return
        offset, size = offset + size, size * 4


class _Rings:
    """Non-remote services by distance from her, read in boxes of growing size.

    A dense town has thousands of services within the radius while a page needs
    ten, so the first box is small, and boxes grow faster where little is found.
    Each ring reads its box minus the previous one; what lies in a box's corners,
    beyond its radius, is carried to the next ring, so nothing is read twice.
    Rings are read only while the page is not full.
    """

    def __init__(self, session: Session, query: SearchQuery, origin: tuple[float, float]) -> None:
        self.session, self.query, self.origin = session, query, origin
        self.radius: float | None = 0.0  # None once everything has been read
        self.inner: _Box | None = None
        self.carried: list[_Candidate] = []
        self.found = 0

    def read(self, limit: float | None, scope: Scope) -> Iterator[_Candidate]:
        """Candidates up to ``limit`` km (to the end when None), labelled ``scope``."""
        while self.radius is not None and (limit is None or self.radius < limit):
            radius = self._next(limit)
            outer = None if radius is None else _Box.around(self.origin, radius)
            area = _area(outer, self.inner)
            found = self.carried + _fetch(self.session, self.query, area, self.origin)
            inside = [c for c in found if radius is None or _within(c, radius)]
            self.carried = [c for c in found if radius is not None and not _within(c, radius)]
            self.radius, self.inner, self.found = radius, outer, self.found + len(inside)
            yield from _ranked(inside, scope)

    def _next(self, limit: float | None) -> float | None:
        if self.query.text_keys:
            growth = TEXT_RING_GROWTH
        else:
            growth = RING_GROWTH if self.found >= SPARSE else RING_GROWTH**2
        radius = FIRST_RING_KM if self.radius == 0 else (self.radius or 0) * growth
        if limit is not None:
            return min(radius, limit)
        return None if radius > RING_LIMIT_KM else radius


def _within(candidate: _Candidate, radius_km: float) -> bool:
    return candidate.distance is not None and candidate.distance <= radius_km


def _ranked(candidates: list[_Candidate], scope: Scope) -> list[_Candidate]:
    for candidate in candidates:
        candidate.scope = scope
    return sorted(candidates, key=lambda candidate: candidate.rank)


def _fetch(
    session: Session, query: SearchQuery, area: ColumnElement[bool], origin: tuple[float, float]
) -> list[_Candidate]:
    """Candidates in ``area`` passing the filters and matching a query word, if any.

    Distances are exact, from ``origin``.
    """
    keys = query.text_keys
    # With one query word, every service found has it: no need to count.
    relevance = _relevance(keys) if len(keys) > 1 else literal_column(str(len(keys)))
    statement = select(*_COLUMNS, relevance).where(*_filters(query), area)
    if keys:
        statement = statement.where(or_(*(service_has(key) for key in sorted(keys))))
    return _candidates_of(session.execute(statement), origin)


def _relevance(keys: frozenset[str]) -> Label[int]:
    """How many of the query's keys a service has, counted by the database (0 without text)."""
    if not keys:
        return literal_column("0").label("relevance")
    matched = (case((service_has(key), 1), else_=0) for key in sorted(keys))
    return reduce(operator.add, matched).label("relevance")


def _candidates_of(
    rows: Iterable[Row[*tuple[Any, ...]]], origin: tuple[float, float] | None
) -> list[_Candidate]:
    """Candidates of ``_select`` rows, located at their coordinates or else their place."""
    points = _place_points()
    candidates = []
    for service_id, lat, lon, place_id, verified, timezone, always_open, relevance in rows:
        point = (lat, lon) if lat is not None else points.get(place_id)
        distance = None if origin is None or point is None else distance_km(*origin, *point)
        recency = -verified.toordinal() if verified else 0
        candidates.append(
            _Candidate(service_id, distance, relevance, recency, timezone, always_open)
        )
    return candidates


def _filters(query: SearchQuery) -> list[ColumnElement[bool]]:
    """The structured filters (all but free text), all evaluated by the database."""
    conditions: list[ColumnElement[bool]] = [Service.status == ServiceStatus.ACTIVE]
    # Naming every category when none is asked for lets the database use the
    # index that starts with category for the status/country/location columns.
    categories = list(Category) if query.category is None else [query.category]
    conditions.append(Service.category.in_(categories))
    if query.in_country is not None:
        conditions.append(Service.country == query.in_country)
    if query.free_only:
        conditions.append(Service.free.is_(True))
    if query.remote_only:
        conditions.append(Service.remote.is_(True))
    conditions.extend(_ACCESS_COLUMNS[flag].is_(True) for flag in query.accessibility)
    if query.speaks_language_only:
        spoken = ServiceLanguage.language.in_(UNDERSTOOD[query.language])
        conditions.append(exists().where(ServiceLanguage.service_id == Service.id, spoken))
    if query.target_group is not None:
        conditions.append(_welcomes(query.target_group))
    return conditions


def _welcomes(group: TargetGroup) -> ColumnElement[bool]:
    """Services naming the group, or naming none (those serve all women)."""
    named = ServiceTargetGroup.service_id == Service.id
    return or_(
        exists().where(named, ServiceTargetGroup.group == group),
        not_(exists().where(named)),
    )


@dataclass(frozen=True)
class _Box:
    """A lat/lon rectangle around a circle, for the indexed prefilter."""

    south: float
    north: float
    west: float
    east: float

    @classmethod
    def around(cls, origin: tuple[float, float], radius_km: float) -> _Box:
        lat, lon = origin
        d_lat = radius_km / KM_PER_DEGREE
        d_lon = radius_km / (KM_PER_DEGREE * max(0.01, math.cos(math.radians(lat))))
        return cls(lat - d_lat, lat + d_lat, lon - d_lon, lon + d_lon)

    def holds(self, point: tuple[float, float]) -> bool:
        return self.south <= point[0] <= self.north and self.west <= point[1] <= self.east

    def located(self) -> ColumnElement[bool]:
        return and_(
            Service.lat.between(self.south, self.north), Service.lon.between(self.west, self.east)
        )


def _area(outer: _Box | None, inner: _Box | None) -> ColumnElement[bool]:
    """Non-remote services in ``outer`` (everywhere when None) and not in ``inner``.

    Services without coordinates count at their gazetteer place; with neither,
    they are only found by the unbounded ``outer=None`` area.
    """
    located: list[ColumnElement[bool]] = [Service.lat.is_not(None)]
    if outer is not None:
        located.append(outer.located())
    if inner is not None:
        located.append(not_(inner.located()))
    inner_places = _places_in(inner)
    if outer is None:
        by_place = or_(Service.place_id.is_(None), Service.place_id.not_in(sorted(inner_places)))
    else:
        by_place = Service.place_id.in_(sorted(_places_in(outer) - inner_places))
    unlocated = and_(Service.lat.is_(None), Service.lon.is_(None), by_place)
    return and_(Service.remote.is_(False), or_(and_(*located), unlocated))


@cache
def _place_points() -> dict[str, tuple[float, float]]:
    """Coordinates of gazetteer towns and municipalities (a country is no point)."""
    return {
        place.id: (place.lat, place.lon)
        for place in Gazetteer.load().places()
        if place.kind != "country"
    }


@cache
def _places_by_lat() -> tuple[list[float], list[tuple[str, float, float]]]:
    """The same places sorted by latitude, so a box finds its places by bisection."""
    ordered = sorted((lat, lon, place_id) for place_id, (lat, lon) in _place_points().items())
    return [lat for lat, _, _ in ordered], [(place_id, lat, lon) for lat, lon, place_id in ordered]


def _places_in(box: _Box | None) -> set[str]:
    if box is None:
        return set()
    lats, places = _places_by_lat()
    band = places[bisect_left(lats, box.south) : bisect_right(lats, box.north)]
    return {place_id for place_id, lat, lon in band if box.holds((lat, lon))}


# -- open now, batch by batch ------------------------------------------------------


def _collect(
    session: Session,
    query: SearchQuery,
    candidates: Iterator[_Candidate],
    needed: int,
    now: dt.datetime,
) -> list[_Candidate]:
    """The first ``needed`` candidates (in rank order) that are open, if she asked for open now.

    Opening hours are checked on batches of growing size: many services are
    closed at night, and each batch is one query.
    """
    if not query.open_now:
        return list(islice(candidates, needed))
    kept: list[_Candidate] = []
    size = min(needed * 4, MAX_BATCH)
    while len(kept) < needed and (batch := list(islice(candidates, size))):
        open_ids = _open_ids(session, batch, now)
        kept.extend(candidate for candidate in batch if candidate.id in open_ids)
        size = min(size * 2, MAX_BATCH)
    return kept[:needed]


def _open_ids(session: Session, batch: Sequence[_Candidate], now: dt.datetime) -> set[int]:
    """Ids of the candidates open at ``now``, from one query for their hours and closed days.

    Only closed days around today matter (yesterday's overnight hours included).
    """
    ids = [candidate.id for candidate in batch]
    today = now.astimezone(dt.UTC).date()
    hours = select(
        OpeningHours.service_id, OpeningHours.weekday, OpeningHours.opens, OpeningHours.closes,
        cast(null(), Date),
    ).where(OpeningHours.service_id.in_(ids))  # fmt: skip
    closed_days = select(
        ClosedDay.service_id, cast(null(), SmallInteger), cast(null(), Time), cast(null(), Time),
        ClosedDay.day,
    ).where(
        ClosedDay.service_id.in_(ids),
        ClosedDay.day.between(today - dt.timedelta(days=2), today + dt.timedelta(days=1)),
    )  # fmt: skip
    weeks: dict[int, list[tuple[int, dt.time, dt.time]]] = defaultdict(list)
    closed: dict[int, set[dt.date]] = defaultdict(set)
    for service_id, weekday, opens, closes, day in session.execute(union_all(hours, closed_days)):
        if day is None:
            weeks[service_id].append((weekday, opens, closes))
        else:
            closed[service_id].add(day)
    return {
        c.id
        for c in batch
        if _is_open(c.always_open, _week(weeks[c.id]), closed[c.id], _local(now, c.timezone))
    }


# -- opening hours ---------------------------------------------------------------


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _local(now: dt.datetime, timezone: str) -> dt.datetime:
    """``now`` as the wall-clock time of ``timezone`` (hours are wall-clock times)."""
    return now.astimezone(_zone(timezone)).replace(tzinfo=None)


Week = dict[int, list[tuple[dt.time, dt.time]]]  # weekday (0 = Monday) -> (opens, closes)


def _week(hours: Iterable[tuple[int, dt.time, dt.time]]) -> Week:
    week: Week = defaultdict(list)
    for weekday, opens, closes in sorted(hours):
        week[weekday].append((opens, closes))
    return week


def _intervals(
    always_open: bool, week: Week, closed: set[dt.date], first_day: dt.date, days: int
) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """Opening intervals (local, naive) starting on ``days`` days from ``first_day``, in order.

    An interval closing at or before it opens runs into the next day; a closed
    day cancels the intervals that start on it.
    """
    midnight = dt.time(0)
    for offset in range(days):
        day = first_day + dt.timedelta(days=offset)
        if day in closed:
            continue
        spans = [(midnight, midnight)] if always_open else week.get(day.weekday(), [])
        for opens, closes in spans:
            end_day = day if closes > opens else day + dt.timedelta(days=1)
            yield dt.datetime.combine(day, opens), dt.datetime.combine(end_day, closes)


def _is_open(always_open: bool, week: Week, closed: set[dt.date], local_now: dt.datetime) -> bool:
    """Open at ``local_now``: only yesterday's (overnight) and today's intervals can say so."""
    yesterday = local_now.date() - dt.timedelta(days=1)
    intervals = _intervals(always_open, week, closed, yesterday, 2)
    return any(start <= local_now < end for start, end in intervals)


def opening(service: Service, now: dt.datetime) -> Opening:
    """Whether ``service`` is open at ``now`` and when it next opens or closes, in its time zone."""
    if not service.always_open and not service.hours:
        return Opening(None)
    zone = _zone(service.timezone)
    local_now = _local(_aware(now), service.timezone)
    first_day = local_now.date() - dt.timedelta(days=1)
    week = _week((row.weekday, row.opens, row.closes) for row in service.hours)
    closed = {row.day for row in service.closed_days}
    intervals = list(_intervals(service.always_open, week, closed, first_day, HORIZON_DAYS + 1))
    if not any(start <= local_now < end for start, end in intervals):
        upcoming = [start for start, _ in intervals if start > local_now]
        return Opening(False, opens_next=upcoming[0].replace(tzinfo=zone) if upcoming else None)
    closes = local_now
    for start, end in intervals:  # merge back-to-back intervals: 24/7 does not close at midnight
        if start <= closes:
            closes = max(closes, end)
    horizon = dt.datetime.combine(first_day + dt.timedelta(days=HORIZON_DAYS + 1), dt.time(0))
    return Opening(True, closes_at=None if closes >= horizon else closes.replace(tzinfo=zone))


# -- the final page ----------------------------------------------------------------


def _load(session: Session, ids: list[int], now: dt.datetime, language: str) -> dict[int, Service]:
    """The page's services with what ``describe`` shows, in four queries whatever the page size.

    Only the texts in her language and English (its fallback) and the closed
    days from now on are loaded: the page needs no more. The small collections
    (a few languages, groups and upcoming closed days) are joined to the first
    query, the larger ones selectin-loaded: each query costs more than its rows.
    """
    if not ids:
        return {}
    since = now.astimezone(dt.UTC).date() - dt.timedelta(days=2)
    languages = sorted({language, "en"})
    statement = (
        select(Service)
        .where(Service.id.in_(ids))
        .options(
            joinedload(Service.organisation),
            joinedload(Service.languages),
            joinedload(Service.target_groups),
            joinedload(Service.closed_days.and_(ClosedDay.day >= since)),
            selectinload(Service.texts.and_(ServiceText.language.in_(languages))),
            selectinload(Service.contacts),
            selectinload(Service.hours),
        )
    )
    return {service.id: service for service in session.scalars(statement).unique()}


def _match(candidate: _Candidate, service: Service, now: dt.datetime) -> Match:
    state = opening(service, now)
    return Match(
        service=service,
        scope=candidate.scope,
        distance_km=candidate.distance,
        relevance=candidate.relevance,
        open_now=state.open_now,
        opens_next=state.opens_next,
        closes_at=state.closes_at,
    )


# -- presenting one match ----------------------------------------------------------

# Calling codes of the countries the directory covers (all three digits long),
# so that "+381111234567" can be written "+381 11 123 4567".
CALLING_CODES = frozenset({"355", "373", "380", "381", "382", "383", "387", "389"})


def format_phone(value: str) -> str:
    """The number written plainly, grouped so that messengers and phones make it tappable.

    The directory editor's own grouping is kept; an international number of the
    region written without spaces is grouped as code, area, then 3-4 digits.
    """
    plain = " ".join(value.split())
    code, rest = plain[1:4], plain[4:]
    if " " in plain or not plain.startswith("+") or code not in CALLING_CODES or len(rest) < 6:
        return plain
    return " ".join(["+" + code, rest[:2], *_digit_groups(rest[2:])])


def _digit_groups(digits: str) -> list[str]:
    if len(digits) <= 4:
        return [digits]
    if len(digits) <= 7:
        return [digits[:3], digits[3:]]
    if len(digits) == 8:
        return [digits[:4], digits[4:]]
    return [digits[:3], *_digit_groups(digits[3:])]


def describe(match: Match, language: str) -> dict[str, Any]:
    """One match as plain JSON data for her language; the UI words it (texts live in domain.yml).

    Texts fall back to English when missing in ``language``. Times are local
    times of the service ("HH:MM"); weekdays are 0 (Monday) to 6.
    """
    service = match.service
    text = service.text(language)
    contacts = sorted(service.contacts, key=lambda contact: contact.position)
    return {
        "id": service.external_id,
        "name": text.name if text else service.organisation.name,
        "organisation": service.organisation.name,
        "category": service.category.value,
        "description": text.description if text else None,
        "how_to_access": text.how_to_access if text else None,
        "what_to_bring": text.what_to_bring if text else None,
        "scope": match.scope.value,
        "distance_km": None if match.distance_km is None else round(match.distance_km, 1),
        "country": service.country,
        "municipality": service.municipality,
        "address": service.address,
        "phones": [_phone(c) for c in contacts if c.kind is ContactKind.PHONE],
        "links": [
            {"kind": c.kind.value, "value": c.value, "note": c.note}
            for c in contacts
            if c.kind is not ContactKind.PHONE
        ],
        "hours": _hours_summary(service),
        "open_now": match.open_now,
        "closes_at": _clock(match.closes_at, closing=True),
        "opens_next": _next_opening(match.opens_next),
        "timezone": service.timezone,
        "free": service.free,
        "wheelchair": service.wheelchair,
        "sign_language": service.sign_language,
        "interpretation": service.interpretation,
        "languages": [row.language for row in service.languages],
        "target_groups": [row.group.value for row in service.target_groups],
        "last_verified": service.last_verified.isoformat() if service.last_verified else None,
        "demo": service.demo,
    }


def _phone(contact: ContactPoint) -> dict[str, str | None]:
    """The number to show, and a ``tel:`` link for UIs that make links themselves."""
    plain = "".join(contact.value.split())
    return {"number": format_phone(contact.value), "tel": f"tel:{plain}", "note": contact.note}


def _clock(moment: dt.datetime | dt.time | None, *, closing: bool = False) -> str | None:
    if moment is None:
        return None
    text = moment.strftime("%H:%M")
    return "24:00" if closing and text == "00:00" else text


def _next_opening(moment: dt.datetime | None) -> dict[str, Any] | None:
    if moment is None:
        return None
    return {"at": moment.isoformat(), "weekday": moment.weekday(), "time": _clock(moment)}


def _hours_summary(service: Service) -> dict[str, Any]:
    """Weekly hours, consecutive days of identical hours grouped, for example
    ``{"days": [0, 1, 2, 3, 4], "intervals": [["08:00", "16:00"]]}`` for Monday to Friday.
    """
    if service.always_open:
        return {"always_open": True, "weekly": []}
    by_day: dict[int, list[tuple[str | None, str | None]]] = defaultdict(list)
    for row in sorted(service.hours, key=lambda row: (row.weekday, row.opens)):
        by_day[row.weekday].append((_clock(row.opens), _clock(row.closes, closing=True)))
    weekly: list[dict[str, Any]] = []
    for day in sorted(by_day):
        intervals = [list(span) for span in by_day[day]]
        if weekly and weekly[-1]["intervals"] == intervals and weekly[-1]["days"][-1] == day - 1:
            weekly[-1]["days"].append(day)
        else:
            weekly.append({"days": [day], "intervals": intervals})
    return {"always_open": False, "weekly": weekly}
