"""Directory search on SQLite and PostgreSQL: ranking, filters, opening hours, text, HTTP, CLI.

Every test runs on both databases (the ``session``/``engine`` fixtures of
``tests/directory/conftest.py`` are parametrized and migrated with
``bot.directory.migrate.upgrade``). Times are frozen.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Iterable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.directory import search_cli
from bot.directory.api import router
from bot.directory.models import (
    Category,
    ClosedDay,
    ContactKind,
    ContactPoint,
    OpeningHours,
    Organisation,
    Service,
    ServiceLanguage,
    ServiceStatus,
    ServiceTargetGroup,
    ServiceText,
    TargetGroup,
)
from bot.directory.search import (
    Accessibility,
    Scope,
    SearchQuery,
    describe,
    format_phone,
    search,
)
from bot.directory.search_keys import reindex
from bot.places import Gazetteer, Place
from bot.settings import Settings

GAZETTEER = Gazetteer.load()
BEOGRAD = GAZETTEER.resolve("Beograd")
PANCEVO = GAZETTEER.resolve("Pančevo")  # 15.8 km from Beograd
NOVI_SAD = GAZETTEER.resolve("Novi Sad")  # 70 km
NIS = GAZETTEER.resolve("Niš")  # 200 km
SKOPJE = GAZETTEER.resolve("Skopje")  # another country
SRBIJA = GAZETTEER.resolve("Srbija")
# Wednesday 14 January 2026, 07:30 UTC = 08:30 in Belgrade (UTC+1), 09:30 in Kyiv (UTC+2).
NOW = dt.datetime(2026, 1, 14, 7, 30, tzinfo=dt.UTC)
WEEKDAYS = range(5)
LANGUAGES = ("en", "sq", "sr", "mk")


def add(
    session: Session,
    external_id: str,
    *,
    at: Place | None = None,
    place_only: bool = False,
    country: str | None = None,
    category: Category = Category.LEGAL_AID,
    remote: bool = False,
    timezone: str = "Europe/Belgrade",
    hours: Iterable[tuple[int, str, str]] = (),
    always_open: bool = False,
    closed: Iterable[dt.date] = (),
    texts: dict[str, tuple[str, str]] | None = None,
    organisation: str = "Udruženje Test",
    status: ServiceStatus = ServiceStatus.ACTIVE,
    free: bool = True,
    wheelchair: bool = False,
    languages: Iterable[str] = (),
    groups: Iterable[TargetGroup] = (),
    verified: dt.date | None = None,
    demo: bool = False,
    phone: str = "+381111234567",
) -> Service:
    """Add one service at ``at`` (its coordinates, or only its place with ``place_only``)."""
    org = session.query(Organisation).filter_by(name=organisation).one_or_none()
    org = org or Organisation(external_id=organisation, name=organisation)
    texts = texts or {lang: (f"Service {external_id}", "Help for women.") for lang in LANGUAGES}
    service = Service(
        external_id=external_id,
        organisation=org,
        category=category,
        country=country or (at.country if at else "RS"),
        place_id=at.id if at else None,
        lat=None if at is None or place_only else at.lat,
        lon=None if at is None or place_only else at.lon,
        remote=remote,
        free=free,
        wheelchair=wheelchair,
        always_open=always_open,
        timezone=timezone,
        status=status,
        last_verified=verified,
        demo=demo,
        hours=[
            OpeningHours(weekday=day, opens=dt.time.fromisoformat(start), closes=dt.time.fromisoformat(end))
            for day, start, end in hours
        ],  # fmt: skip
        closed_days=[ClosedDay(day=day) for day in closed],
        texts=[
            ServiceText(language=lang, name=name, description=about)
            for lang, (name, about) in texts.items()
        ],
        contacts=[ContactPoint(position=0, kind=ContactKind.PHONE, value=phone)],
        languages=[ServiceLanguage(language=code) for code in languages],
        target_groups=[ServiceTargetGroup(group=group) for group in groups],
    )
    reindex(service)
    session.add(service)
    return service


def saved(session: Session) -> Session:
    """Commit and forget the objects, so that search loads everything from the database."""
    session.commit()
    session.expunge_all()
    return session


def ids(session: Session, query: SearchQuery, now: dt.datetime = NOW) -> list[str]:
    return [match.service.external_id for match in search(session, query, now).matches]


def office_hours(opens: str = "08:00", closes: str = "16:00") -> list[tuple[int, str, str]]:
    return [(day, opens, closes) for day in WEEKDAYS]


# -- ranking and scope --------------------------------------------------------------


@pytest.fixture
def serbia(session: Session) -> Session:
    """Legal aid around Belgrade, a national helpline, and services that must not show up."""
    add(session, "pancevo", at=PANCEVO)
    add(session, "beograd", at=BEOGRAD)
    add(session, "novi-sad", at=NOVI_SAD)
    add(session, "nis", at=NIS)
    add(session, "helpline", country="RS", remote=True, always_open=True)
    add(session, "skopje", at=SKOPJE)
    add(session, "suspended", at=BEOGRAD, status=ServiceStatus.SUSPENDED)
    add(session, "shelter", at=BEOGRAD, category=Category.SHELTER)
    return saved(session)


def test_nearby_by_distance_then_country_wide_then_national(serbia: Session) -> None:
    result = search(serbia, SearchQuery(category=Category.LEGAL_AID, place=BEOGRAD), NOW)
    found = [(m.service.external_id, m.scope) for m in result.matches]
    assert found == [
        ("beograd", Scope.NEARBY),
        ("pancevo", Scope.NEARBY),
        ("helpline", Scope.COUNTRY_WIDE),
        ("novi-sad", Scope.NATIONAL),
        ("nis", Scope.NATIONAL),
    ]
    distances = [m.distance_km for m in result.matches]
    assert distances[0] == pytest.approx(0, abs=0.01)
    assert distances[1] == pytest.approx(15.8, abs=0.5)
    assert distances[2] is None
    assert distances[3] < distances[4]
    assert not result.has_more


def test_rather_not_say_where_gives_remote_services_only(serbia: Session) -> None:
    query = SearchQuery(category=Category.LEGAL_AID, country="RS", remote_only=True)
    assert ids(serbia, query) == ["helpline"]


def test_radius_decides_what_is_nearby(serbia: Session) -> None:
    query = SearchQuery(category=Category.LEGAL_AID, place=BEOGRAD, radius_km=10)
    assert ids(serbia, query) == ["beograd", "helpline", "pancevo", "novi-sad", "nis"]


def test_fallback_to_country_wide_when_nothing_is_near(serbia: Session) -> None:
    result = search(serbia, SearchQuery(category=Category.LEGAL_AID, place=NIS, radius_km=5), NOW)
    assert [(m.service.external_id, m.scope) for m in result.matches][:2] == [
        ("nis", Scope.NEARBY),
        ("helpline", Scope.COUNTRY_WIDE),
    ]
    far = search(serbia, SearchQuery(category=Category.SHELTER, place=NIS), NOW).matches
    assert [(m.service.external_id, m.scope) for m in far] == [("shelter", Scope.NATIONAL)]
    assert far[0].distance_km == pytest.approx(200, abs=5)


def test_a_country_as_place_lists_the_country_without_distances(serbia: Session) -> None:
    matches = search(serbia, SearchQuery(category=Category.LEGAL_AID, place=SRBIJA), NOW).matches
    assert matches[0].service.external_id == "helpline"
    expected = {"helpline", "beograd", "pancevo", "novi-sad", "nis"}
    assert {m.service.external_id for m in matches} == expected
    assert all(m.distance_km is None for m in matches)


def test_rings_keep_every_service_in_distance_order(session: Session) -> None:
    """Services on a grid around Belgrade, many in box corners beyond a ring's radius."""
    for north in range(-6, 7):
        for east in range(-6, 7):
            lat, lon = BEOGRAD.lat + north * 0.11, BEOGRAD.lon + east * 0.15
            spot = Place("x", "grid", "RS", "town", lat, lon, 0, "Europe/Belgrade")
            add(session, f"grid-{north}-{east}", at=spot)
    first = search(saved(session), SearchQuery(place=BEOGRAD, limit=100), NOW)
    second = search(session, SearchQuery(place=BEOGRAD, limit=100, offset=100), NOW)
    assert (first.has_more, second.has_more) == (True, False)
    matches = first.matches + second.matches
    distances = [m.distance_km for m in matches]
    assert len({m.service.id for m in matches}) == 169
    assert distances == sorted(distances)
    assert all((m.scope is Scope.NEARBY) == (m.distance_km <= 30) for m in matches)


def test_country_wide_services_by_verification_over_several_reads(session: Session) -> None:
    for number in range(45):  # more than one read of the database (32, then 128)
        verified = None if number % 5 == 0 else dt.date(2025, 1, 1) + dt.timedelta(days=number % 7)
        add(session, f"remote-{number:02}", country="RS", remote=True, verified=verified)
    rows = saved(session).query(Service.external_id, Service.last_verified, Service.id).all()

    def recent_first(row: Any) -> tuple[bool, int, int]:
        never = row.last_verified is None
        return (never, 0 if never else -row.last_verified.toordinal(), row.id)

    added = sorted(rows, key=recent_first)
    found = search(session, SearchQuery(country="RS", limit=50), NOW).matches
    assert [m.service.external_id for m in found] == [row.external_id for row in added]
    assert {m.scope for m in found} == {Scope.COUNTRY_WIDE}


def test_pages(serbia: Session) -> None:
    everything = ids(serbia, SearchQuery(category=Category.LEGAL_AID, place=BEOGRAD))
    first = search(serbia, SearchQuery(category=Category.LEGAL_AID, place=BEOGRAD, limit=2), NOW)
    rest = ids(serbia, SearchQuery(category=Category.LEGAL_AID, place=BEOGRAD, limit=3, offset=2))
    assert [m.service.external_id for m in first.matches] + rest == everything
    assert first.has_more


def test_service_known_only_by_its_place_counts_at_the_place(session: Session) -> None:
    add(session, "by-place", at=PANCEVO, place_only=True)
    add(session, "novi-sad", at=NOVI_SAD)
    result = search(saved(session), SearchQuery(place=BEOGRAD), NOW)
    assert [(m.service.external_id, m.scope) for m in result.matches] == [
        ("by-place", Scope.NEARBY),
        ("novi-sad", Scope.NATIONAL),
    ]
    assert result.matches[0].distance_km == pytest.approx(15.8, abs=0.5)


def test_lat_lon_search_and_ties_by_verification(session: Session) -> None:
    add(session, "old", at=PANCEVO, verified=dt.date(2024, 1, 1))
    add(session, "never", at=PANCEVO)
    add(session, "recent", at=PANCEVO, verified=dt.date(2025, 12, 1))
    query = SearchQuery(lat=PANCEVO.lat + 0.01, lon=PANCEVO.lon, country="RS")
    assert ids(saved(session), query) == ["recent", "old", "never"]


def test_demo_is_carried_through(session: Session) -> None:
    add(session, "demo", at=BEOGRAD, demo=True)
    match = search(saved(session), SearchQuery(place=BEOGRAD), NOW).matches[0]
    assert match.demo and describe(match, "sr")["demo"] is True


# -- filters ----------------------------------------------------------------------


def test_language_filter_understands_related_languages(session: Session) -> None:
    add(session, "bosnian", at=BEOGRAD, languages=["bs", "en"])
    add(session, "albanian", at=BEOGRAD, languages=["sq"])
    add(session, "unknown", at=BEOGRAD)
    saved(session)
    assert ids(session, SearchQuery(place=BEOGRAD, language="sr", speaks_language_only=True)) == [
        "bosnian"
    ]
    assert ids(session, SearchQuery(place=BEOGRAD, language="sq", speaks_language_only=True)) == [
        "albanian"
    ]
    assert len(ids(session, SearchQuery(place=BEOGRAD, language="sq"))) == 3


def test_free_accessibility_and_target_group(session: Session) -> None:
    add(session, "paid", at=BEOGRAD, free=False)
    add(session, "ramp", at=BEOGRAD, wheelchair=True, groups=[TargetGroup.ROMA_WOMEN])
    add(session, "minors", at=BEOGRAD, groups=[TargetGroup.MINORS])
    saved(session)
    assert set(ids(session, SearchQuery(place=BEOGRAD, free_only=True))) == {"ramp", "minors"}
    wheelchair = frozenset({Accessibility.WHEELCHAIR})
    assert ids(session, SearchQuery(place=BEOGRAD, accessibility=wheelchair)) == ["ramp"]
    roma = SearchQuery(place=BEOGRAD, target_group=TargetGroup.ROMA_WOMEN)
    assert set(ids(session, roma)) == {"paid", "ramp"}  # "paid" names no group: it serves all


# -- free text --------------------------------------------------------------------


@pytest.fixture
def lawyers(session: Session) -> Session:
    add(session, "lawyer", at=PANCEVO, texts={
        "en": ("Free lawyer", "Legal advice and court representation."),
        "sq": ("Avokat falas", "Këshillim ligjor."),
        "sr": ("Besplatan advokat", "Pravna pomoć i zastupanje pred sudom."),
        "mk": ("Бесплатен адвокат", "Правна помош и застапување пред суд."),
    })  # fmt: skip
    add(session, "shelter", at=BEOGRAD, category=Category.SHELTER, texts={
        "en": ("Safe house", "Shelter for women and children."),
        "sr": ("Sigurna kuća", "Sklonište za žene i decu."),
    })  # fmt: skip
    add(session, "by-org", at=NOVI_SAD, organisation="Ženski advokatski centar")
    return saved(session)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("advokata", ["lawyer", "by-org"]),  # Serbian, inflected; the organisation name counts
        ("АДВОКАТ", ["lawyer", "by-org"]),  # Macedonian Cyrillic, capitals
        ("lawyers", ["lawyer"]),
        ("sigurna kuca", ["shelter"]),  # no diacritics
        ("strehim", []),
    ],
)
def test_free_text_in_any_language(lawyers: Session, text: str, expected: list[str]) -> None:
    assert ids(lawyers, SearchQuery(place=BEOGRAD, text=text)) == expected


def test_more_words_matched_wins_a_tie(session: Session) -> None:
    add(session, "one-word", at=PANCEVO, verified=dt.date(2025, 12, 1),
        texts={"en": ("Lawyer", "Court.")})  # fmt: skip
    add(session, "two-words", at=PANCEVO, verified=dt.date(2020, 1, 1),
        texts={"en": ("Free lawyer", "Court.")})  # fmt: skip
    matches = search(saved(session), SearchQuery(place=BEOGRAD, text="free lawyer"), NOW).matches
    assert [(m.service.external_id, m.relevance) for m in matches] == [
        ("two-words", 2),
        ("one-word", 1),
    ]


def test_more_words_matched_ranks_first_among_services_without_distance(session: Session) -> None:
    for number in range(40):  # more than the first page the database sorts
        add(session, f"helpline-{number}", country="RS", remote=True, category=Category.HELPLINE,
            verified=dt.date(2025, 12, 1), texts={"sr": ("SOS telefon", "Pomoć ženama.")})  # fmt: skip
    add(session, "legal", country="RS", remote=True, verified=dt.date(2020, 1, 1),
        texts={"sr": ("Pravna pomoć", "Besplatan advokat.")})  # fmt: skip
    query = SearchQuery(country="RS", text="pravna pomoc", limit=3)
    matches = search(saved(session), query, NOW).matches
    assert [(m.service.external_id, m.relevance) for m in matches] == [
        ("legal", 2),
        ("helpline-0", 1),
        ("helpline-1", 1),
    ]


# -- opening hours ----------------------------------------------------------------


@pytest.fixture
def hours(session: Session) -> Session:
    """Services of several countries and time zones; searched without a place."""
    add(session, "belgrade-9-17", at=BEOGRAD, hours=office_hours("09:00", "17:00"))
    kyiv = {"country": "UA", "timezone": "Europe/Kyiv"}
    add(session, "kyiv-9-17", **kyiv, hours=office_hours("09:00", "17:00"))
    add(session, "belgrade-8-16", at=BEOGRAD, hours=office_hours())
    add(session, "holiday", at=BEOGRAD, hours=office_hours(), closed=[NOW.date()])
    add(session, "always", at=BEOGRAD, always_open=True)
    add(session, "unknown-hours", at=BEOGRAD)
    add(session, "nights", at=BEOGRAD, hours=[(4, "20:00", "08:00")])  # Friday night to Saturday
    return saved(session)


def test_open_now_in_each_services_time_zone(hours: Session) -> None:
    assert set(ids(hours, SearchQuery(open_now=True))) == {"kyiv-9-17", "belgrade-8-16", "always"}


def test_opening_state_for_display(hours: Session) -> None:
    matches = {m.service.external_id: m for m in search(hours, SearchQuery(limit=20), NOW).matches}
    belgrade = dt.timezone(dt.timedelta(hours=1))
    assert matches["belgrade-9-17"].open_now is False
    assert matches["belgrade-9-17"].opens_next == dt.datetime(2026, 1, 14, 9, 0, tzinfo=belgrade)
    assert matches["belgrade-8-16"].closes_at == dt.datetime(2026, 1, 14, 16, 0, tzinfo=belgrade)
    assert matches["holiday"].opens_next == dt.datetime(2026, 1, 15, 8, 0, tzinfo=belgrade)
    assert (matches["always"].open_now, matches["always"].closes_at) == (True, None)
    assert matches["unknown-hours"].open_now is None
    assert matches["nights"].opens_next == dt.datetime(2026, 1, 16, 20, 0, tzinfo=belgrade)


def test_overnight_hours_and_a_24_7_service_closed_on_a_holiday(session: Session) -> None:
    saturday_3am = dt.datetime(2026, 1, 17, 2, 0, tzinfo=dt.UTC)  # 03:00 in Belgrade
    add(session, "nights", at=BEOGRAD, hours=[(4, "20:00", "08:00")])
    add(session, "always-but-today", at=BEOGRAD, always_open=True, closed=[dt.date(2026, 1, 17)])
    saved(session)
    assert ids(session, SearchQuery(open_now=True), saturday_3am) == ["nights"]
    match = search(session, SearchQuery(place=BEOGRAD, limit=5), saturday_3am).matches
    by_id = {m.service.external_id: m for m in match}
    assert by_id["nights"].closes_at.hour == 8
    assert by_id["always-but-today"].opens_next.date() == dt.date(2026, 1, 18)


# -- presentation -------------------------------------------------------------------


def test_describe_gives_data_in_her_language(session: Session) -> None:
    add(session, "svc", at=BEOGRAD, hours=office_hours() + [(5, "09:00", "13:00")], texts={
        "en": ("Legal aid", "Lawyers."), "sr": ("Pravna pomoć", "Advokati."),
    }, phone="+381111234567", languages=["sr", "rom"])  # fmt: skip
    match = search(saved(session), SearchQuery(place=BEOGRAD, language="sr"), NOW).matches[0]
    shown = describe(match, "sr")
    assert (shown["name"], shown["description"]) == ("Pravna pomoć", "Advokati.")
    assert describe(match, "mk")["name"] == "Legal aid"  # falls back to English
    phone = {"number": "+381 11 123 4567", "tel": "tel:+381111234567", "note": None}
    assert shown["phones"] == [phone]
    assert shown["hours"] == {
        "always_open": False,
        "weekly": [
            {"days": [0, 1, 2, 3, 4], "intervals": [["08:00", "16:00"]]},
            {"days": [5], "intervals": [["09:00", "13:00"]]},
        ],
    }
    assert (shown["open_now"], shown["closes_at"], shown["opens_next"]) == (True, "16:00", None)
    assert shown["scope"] == "nearby" and shown["languages"] == ["rom", "sr"]


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("+381111234567", "+381 11 123 4567"),
        ("+38970123456", "+389 70 123 456"),
        ("+355 4 222 3333", "+355 4 222 3333"),  # the editor's grouping is kept
        ("0800 100 600", "0800 100 600"),
        ("1265", "1265"),
    ],
)
def test_phone_numbers_are_written_plainly(written: str, shown: str) -> None:
    assert format_phone(written) == shown


# -- HTTP ------------------------------------------------------------------------------


@pytest.fixture
def client(serbia: Session, engine: Engine) -> TestClient:
    app = FastAPI()
    app.include_router(router)
    app.state.directory_sessions = sessionmaker(engine)
    return TestClient(app)


def test_http_search(client: TestClient) -> None:
    response = client.get(
        "/api/directory/search", params={"category": "legal_aid", "place": "Beogradu", "limit": 3}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["place"]["name"] == "Beograd" and body["country"] == "RS"
    assert [r["id"] for r in body["results"]] == ["beograd", "pancevo", "helpline"]
    assert [r["scope"] for r in body["results"]] == ["nearby", "nearby", "country_wide"]
    assert body["has_more"] is True
    assert body["results"][0]["phones"][0]["number"] == "+381 11 123 4567"


def test_http_filters(client: TestClient) -> None:
    def found(**params: Any) -> list[str]:
        response = client.get("/api/directory/search", params=params)
        return [result["id"] for result in response.json()["results"]]

    assert found(place="Ниш", q="service nis", language="sr")[:2] == ["nis", "helpline"]
    assert found(place="Ниш", open_now="true") == ["helpline"]  # the only one with hours: 24/7
    assert found(place="Beograd", accessibility=["wheelchair", "sign_language"]) == []


def test_http_search_by_coordinates_infers_the_country(client: TestClient) -> None:
    params = {"lat": PANCEVO.lat, "lon": PANCEVO.lon, "radius_km": 5, "category": "legal_aid"}
    body = client.get("/api/directory/search", params=params).json()
    assert body["country"] == "RS"
    assert [r["id"] for r in body["results"]][:2] == ["pancevo", "helpline"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"category": "lawyers"}, "legal_aid"),
        ({"place": "Atlantis"}, "unknown place 'Atlantis'"),
        ({"country": "FR"}, "unknown country 'FR'"),
        ({"lat": 44.8}, "give both lat and lon"),
    ],
)
def test_http_rejects_what_it_cannot_search(client: TestClient, params: dict, message: str) -> None:
    response = client.get("/api/directory/search", params=params)
    assert response.status_code == 422
    assert message in response.text


# -- CLI ------------------------------------------------------------------------------


def test_cli_search(serbia: Session, db_url: str, monkeypatch, capsys) -> None:
    monkeypatch.setattr(search_cli, "get_settings", lambda: Settings(database_url=db_url))
    parser = argparse.ArgumentParser()
    register_into = parser.add_subparsers()
    search_cli.register_search(register_into)
    args = parser.parse_args(
        ["search", "--category", "legal_aid", "--place", "Pančevo", "--limit", "2"]
    )
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert " 1. Service pancevo (Udruženje Test) - nearby, 0 km" in out
    assert "+381 11 123 4567" in out and "more results" in out
    bad = parser.parse_args(["search", "--place", "Atlantis"])
    assert bad.handler(bad) == 2
