"""The gazetteer: names as women write them, in four languages and two scripts."""

from __future__ import annotations

import csv
import json
import re
import statistics
import time

import pytest

from bot.places import EXTRA_CSV, PLACES_CSV, Gazetteer, Place, distance_km, location_message
from tests.executor import run, tracker

COUNTRIES = {"AL", "XK", "MK", "RS", "BA", "ME"}


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer.load()


def _named(place: Place | None) -> tuple[str, str] | None:
    return None if place is None else (place.name, place.country)


def _resolved(gazetteer: Gazetteer, name: str) -> Place:
    place = gazetteer.resolve(name)
    assert place is not None, name
    return place


# -- resolve: one name as written ------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("Niš", ("Niš", "RS")),
        ("Nis", ("Niš", "RS")),
        ("Ниш", ("Niš", "RS")),
        ("NIŠ", ("Niš", "RS")),
        ("Nisu", ("Niš", "RS")),
        ("Скопје", ("Skopje", "MK")),
        ("Скопље", ("Skopje", "MK")),
        ("Shkup", ("Skopje", "MK")),
        ("Скадар", ("Shkodër", "AL")),
        ("Shkodra", ("Shkodër", "AL")),
        ("Shkodrës", ("Shkodër", "AL")),
        ("Tiranës", ("Tirana", "AL")),
        ("Tirane", ("Tirana", "AL")),
        ("Тирана", ("Tirana", "AL")),
        ("Durrësi", ("Durrës", "AL")),
        ("Novog Sada", ("Novi Sad", "RS")),
        ("Novom Sadu", ("Novi Sad", "RS")),
        ("Нови Сад", ("Novi Sad", "RS")),
        ("NS", ("Novi Sad", "RS")),
        ("Beogradu", ("Beograd", "RS")),
        ("Belgrade", ("Beograd", "RS")),
        ("BG", ("Beograd", "RS")),
        ("Приштина", ("Prishtinë", "XK")),
        ("Priština", ("Prishtinë", "XK")),
        ("Prishtine", ("Prishtinë", "XK")),
        ("Peja", ("Pejë", "XK")),
        ("Peć", ("Pejë", "XK")),
        ("Gjakova", ("Gjakovë", "XK")),
        ("Ulqin", ("Ulcinj", "ME")),
        ("Tetovë", ("Tetovo", "MK")),
        ("Kërçovë", ("Kičevo", "MK")),
        ("Sarajevu", ("Sarajevo", "BA")),
        ("Бањој Луци", ("Banja Luka", "BA")),
        ("Čačku", ("Čačak", "RS")),
        ("Karpoš", ("Karpoš", "MK")),
        ("Šutka", ("Šuto Orizari", "MK")),
        ("Zemunu", ("Zemun", "RS")),
        ("Tiranna", ("Tirana", "AL")),  # one typo
        ("Kragujvac", ("Kragujevac", "RS")),  # one typo
        ("Kosovë", ("Kosova", "XK")),
        ("Shqipëri", ("Shqipëri", "AL")),
        ("Црна Гора", ("Crna Gora", "ME")),
    ],
)
def test_resolve(gazetteer: Gazetteer, written: str, expected: tuple[str, str]) -> None:
    assert _named(gazetteer.resolve(written)) == expected


@pytest.mark.parametrize("written", ["", "   ", "Germanija", "London", "xyzzy"])
def test_resolve_unknown(gazetteer: Gazetteer, written: str) -> None:
    assert gazetteer.resolve(written) is None


def test_prilep_is_the_town_not_the_village(gazetteer: Gazetteer) -> None:
    """Two places called Prilep: the most populous wins."""
    assert _resolved(gazetteer, "Prilep").country == "MK"


# -- find_in: a whole message ------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # Albanian
        ("jam nga Shkodra", ("Shkodër", "AL")),
        ("ne Prishtine", ("Prishtinë", "XK")),
        ("jetoj ne Durres", ("Durrës", "AL")),
        ("po shkruaj nga Durrësi", ("Durrës", "AL")),
        ("ne nje fshat afer Prizrenit", ("Prizren", "XK")),
        ("komuna e Lipjanit", ("Lipjan", "XK")),
        ("jemi ne Tuz", ("Tuzi", "ME")),
        ("jam nga Kosova por jetoj ne Tirane", ("Tirana", "AL")),
        ("ne Mal te Zi cili eshte numri i policise", ("Crna Gora", "ME")),
        ("Mirdita, jam ne Mirditë", ("Rrëshen", "AL")),  # the greeting, then the place
        # Serbian, Bosnian, Montenegrin: Latin and Cyrillic, inflected
        ("živim u Nisu", ("Niš", "RS")),
        ("zivim u nisu", ("Niš", "RS")),
        ("iz Novog Sada", ("Novi Sad", "RS")),
        ("treba mi advokat u Novom Sadu", ("Novi Sad", "RS")),
        ("u Beogradu", ("Beograd", "RS")),
        ("ziveo sam u BG", ("Beograd", "RS")),
        ("живим у Вршцу", ("Vršac", "RS")),
        ("ја сам из Шапца", ("Šabac", "RS")),
        ("број полиције у Бањој Луци", ("Banja Luka", "BA")),
        ("živim u Bijelom Polju", ("Bijelo Polje", "ME")),
        ("u baru sam", ("Bar", "ME")),
        ("zivim u Beogrdu", ("Beograd", "RS")),  # typo after a cue
        ("ZIVIM U NISU", ("Niš", "RS")),
        # Macedonian: Cyrillic and Latin
        ("живеам во Куманово", ("Kumanovo", "MK")),
        ("Скопје", ("Skopje", "MK")),
        ("Скадар", ("Shkodër", "AL")),
        ("во Кисела Вода сум", ("Kisela Voda", "MK")),
        ("ziveeme vo opstina Centar", ("Centar", "MK")),
        ("Ѓорче Петров, Скопје", ("Gjorče Petrov", "MK")),
        # English
        ("from Tetovo", ("Tetovo", "MK")),
        ("i live in Pančevo near Belgrade", ("Pančevo", "RS")),
        ("Kumanovo, North Macedonia", ("Kumanovo", "MK")),
        ("I'm from Kosovo Polje", ("Fushë Kosovë", "XK")),
        # the name alone
        ("Tirana", ("Tirana", "AL")),
        ("nis", ("Niš", "RS")),
        ("Bar", ("Bar", "ME")),
        ("Prizrenit", ("Prizren", "XK")),
    ],
)
def test_find_in(gazetteer: Gazetteer, message: str, expected: tuple[str, str]) -> None:
    assert _named(gazetteer.find_in(message)) == expected


@pytest.mark.parametrize("message", ["Niš", "Nis", "Ниш", "u Nišu", "iz Niša"])
def test_find_in_nis_every_spelling(gazetteer: Gazetteer, message: str) -> None:
    assert _named(gazetteer.find_in(message)) == ("Niš", "RS")


def test_country_alone_is_the_country(gazetteer: Gazetteer) -> None:
    """Documented choice: a country named alone resolves to the country place."""
    place = gazetteer.find_in("jam ne Kosove")
    assert place is not None
    assert (place.id, place.kind, place.country) == ("x:xk", "country", "XK")


@pytest.mark.parametrize(
    "message",
    [
        "I need a lawyer",
        "ok thank you",
        "he hits me every day",
        "a bar of soap",
        "I work in a bar",
        "bar",
        "oni nisu ovde",  # "nisu" = they are not
        "ne bih htela",  # "bih" = would, not BiH
        "sad sam u kuci",
        "u centru grada",
        "mirdita",
        "Mirdita",  # good day, not the municipality
        "kupila sam 5 kg brasna od 5 kg",
        "e-Albania nuk me hapet",
        "how to register on e-kosova",
        "can we talk in Serbian",
        "ko je napisao na drini cuprija",
        "moj muz David me tuce",
        "viti i kaluar ishte shume i veshtire",  # "viti" = the year
        "he said he would kill me",
        "",
    ],
)
def test_find_in_ignores_ordinary_words(gazetteer: Gazetteer, message: str) -> None:
    assert gazetteer.find_in(message) is None


def test_find_in_is_fast(gazetteer: Gazetteer) -> None:
    """Budget: well under 1 ms per message (bench/bench_places.py measures it)."""
    messages = ["treba mi advokat u Novom Sadu, zivim tu sa decom vec dve godine"] * 200
    timings = []
    for message in messages:
        start = time.perf_counter()
        gazetteer.find_in(message)
        timings.append(time.perf_counter() - start)
    assert statistics.median(timings) < 0.001


# -- get, nearby, distance ------------------------------------------------------------


def test_get(gazetteer: Gazetteer) -> None:
    nis = gazetteer.get("gn:787657")
    assert (nis.name, nis.country, nis.kind) == ("Niš", "RS", "town")
    assert nis.timezone == "Europe/Belgrade"
    assert gazetteer.get("x:mk-karpos").kind == "municipality"
    with pytest.raises(KeyError):
        gazetteer.get("gn:0")


def test_load_is_cached() -> None:
    assert Gazetteer.load() is Gazetteer.load()


def test_distance_belgrade_novi_sad(gazetteer: Gazetteer) -> None:
    belgrade, novi_sad = _resolved(gazetteer, "Beograd"), _resolved(gazetteer, "Novi Sad")
    assert 70 <= distance_km(belgrade.lat, belgrade.lon, novi_sad.lat, novi_sad.lon) <= 80


def test_distance_is_symmetric_and_zero_on_itself() -> None:
    assert distance_km(42.0, 21.4, 42.0, 21.4) == 0
    assert distance_km(42.0, 21.4, 41.3, 19.8) == pytest.approx(distance_km(41.3, 19.8, 42.0, 21.4))


def test_nearby_nearest_first(gazetteer: Gazetteer) -> None:
    belgrade = _resolved(gazetteer, "Beograd")
    around = gazetteer.nearby(belgrade, 15)
    distances = [distance_km(belgrade.lat, belgrade.lon, p.lat, p.lon) for p in around]
    assert distances == sorted(distances)
    assert all(d <= 15 for d in distances)
    assert {"Zemun", "Novi Beograd", "Zvezdara"} <= {p.name for p in around}
    assert belgrade not in around
    assert all(p.kind != "country" for p in around)


def test_nearby_skopje_municipalities(gazetteer: Gazetteer) -> None:
    skopje = _resolved(gazetteer, "Skopje")
    names = [p.name for p in gazetteer.nearby(skopje, 8)]
    assert names[0] == "Centar"
    assert {"Karpoš", "Aerodrom", "Čair", "Gazi Baba", "Kisela Voda"} <= set(names)
    assert "Kumanovo" not in names


# -- a location she shares -----------------------------------------------------------


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        ((41.3275, 19.8189), ("Tirana", "AL")),  # Skanderbeg Square
        ((42.6629, 21.1655), ("Prishtinë", "XK")),
        ((45.2671, 19.8335), ("Novi Sad", "RS")),
        ((42.4304, 19.2594), ("Podgorica", "ME")),
        ((42.0693, 19.5033), ("Shkodër", "AL")),
        # City centres kilometres from the city's point, villages nearer: the city wins.
        ((44.8176, 20.4569), ("Beograd", "RS")),  # Republic Square; "Stari Grad" is 0.4 km away
        ((43.8563, 18.4131), ("Sarajevo", "BA")),  # Baščaršija; "Kobilja Glava" is nearer
        ((44.7722, 17.1910), ("Banja Luka", "BA")),
        # A municipality of the city is more precise than the city.
        ((41.9866, 21.4722), ("Aerodrom", "MK")),
        ((44.8430, 20.4011), ("Zemun", "RS")),
    ],
)
def test_a_shared_location_is_the_place_it_is_in(gazetteer: Gazetteer, point, expected) -> None:
    assert _named(gazetteer.place_at(*point)) == expected


@pytest.mark.parametrize(
    "point",
    [
        (42.6977, 23.3219),  # Sofia
        (48.2082, 16.3738),  # Vienna
        (41.5, 18.5),  # the Adriatic, between Albania and Italy
        (float("nan"), 20.0),
        (91.0, 20.0),
        (42.0, float("inf")),
    ],
)
def test_a_location_far_from_our_places_is_no_place(gazetteer: Gazetteer, point) -> None:
    assert gazetteer.place_at(*point) is None
    assert location_message(*point) is None


def test_the_radius_bounds_a_shared_location(gazetteer: Gazetteer) -> None:
    nis = _resolved(gazetteer, "Niš")
    north = (nis.lat + 0.02, nis.lon)  # 2.2 km, and no other place that near
    assert gazetteer.place_at(*north, radius_km=3) == nis
    assert gazetteer.place_at(*north, radius_km=2) is None


def test_every_place_is_found_at_its_point_under_a_name_that_finds_it_again(gazetteer: Gazetteer) -> None:
    """A place whose name finds a bigger namesake gives way to the next place near it."""
    towns = [place for place in gazetteer.places() if place.kind != "country"]
    shadowed = 0
    for place in towns:
        found = gazetteer.place_at(place.lat, place.lon)
        assert found is not None and gazetteer.resolve(found.name) == found, place
        if gazetteer.resolve(place.name) == place:
            assert found == place
        else:
            shadowed += 1
            assert found != place and distance_km(place.lat, place.lon, found.lat, found.lon) <= 30
    assert shadowed > 0  # e.g. Trebinjë (AL), whose name is Trebinje (BA)'s


def _shortcut(message: str) -> tuple[str, list[dict[str, str]]]:
    """Intent and entities of a ``/intent{...}`` message, parsed as Rasa's shortcut syntax is."""
    parsed = re.fullmatch(r"/(\w+)(\{.*\})", message)
    assert parsed, message
    values = json.loads(parsed.group(2))
    return parsed.group(1), [{"entity": name, "value": value} for name, value in values.items()]


def test_a_shared_location_becomes_the_place_shortcut() -> None:
    assert location_message(43.3209, 21.8958) == '/inform_location{"location": "Niš"}'


@pytest.mark.parametrize("requested_slot", [None, "location"])
async def test_the_shortcut_sets_her_place_and_country(requested_slot) -> None:
    message = location_message(43.8563, 18.4131)  # the heart of Sarajevo
    assert message is not None
    intent, entities = _shortcut(message)
    assert intent == "inform_location"
    slots, _ = await run("action_validate_slot_mappings", tracker(
        message, intent, tuple(entities), language="sr", welcomed=True, requested_slot=requested_slot))
    sarajevo = Gazetteer.load().resolve("Sarajevo")
    assert (slots["location"], slots["place_id"], slots["country"]) == ("Sarajevo", sarajevo.id, "BA")


# -- the data ----------------------------------------------------------------------


def test_data_is_sane(gazetteer: Gazetteer) -> None:
    places = gazetteer.places()
    assert len(places) > 1600
    assert {p.country for p in places} == COUNTRIES
    for place in places:
        assert place.kind in {"country", "town", "municipality"}
        assert 39.0 < place.lat < 47.0 and 13.0 < place.lon < 24.0, place
        assert place.timezone.startswith("Europe/"), place
        assert place.name and not any("\u0400" <= ch <= "\u04ff" for ch in place.name), place


def test_six_countries(gazetteer: Gazetteer) -> None:
    countries = {p.country: p for p in gazetteer.places() if p.kind == "country"}
    assert set(countries) == COUNTRIES


def test_skopje_and_belgrade_municipalities(gazetteer: Gazetteer) -> None:
    municipalities = {(p.name, p.country) for p in gazetteer.places() if p.kind == "municipality"}
    skopje = {"Aerodrom", "Karpoš", "Čair", "Centar", "Gazi Baba", "Gjorče Petrov",
              "Kisela Voda", "Butel", "Šuto Orizari", "Saraj"}
    belgrade = {"Zemun", "Novi Beograd", "Palilula", "Zvezdara", "Voždovac", "Čukarica", "Rakovica"}
    assert {(name, "MK") for name in skopje} <= municipalities
    assert {(name, "RS") for name in belgrade} <= municipalities


def test_supplement_rows_name_their_source() -> None:
    with EXTRA_CSV.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    assert rows and all(row["source"] == "maintainers (supplement)" for row in rows)
    with PLACES_CSV.open(encoding="utf-8") as handle:
        ids = [row["id"] for row in csv.DictReader(handle)]
    assert len(ids) == len(set(ids))
    new = [row["id"] for row in rows if not row["id"].startswith("gn:")]
    assert all(place_id.startswith("x:") for place_id in new)
    assert set(new).isdisjoint(ids)


@pytest.mark.timeout(10)  # matching the parts of a long name grows exponentially: it must not be tried
def test_a_name_longer_than_any_place_resolves_to_nothing():
    assert Gazetteer.load().resolve("novoga " * 30) is None
