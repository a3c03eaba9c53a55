"""The gazetteer: names as women write them, in four languages and two scripts."""

from __future__ import annotations

import csv
import statistics
import time

import pytest

from bot.places import EXTRA_CSV, PLACES_CSV, Gazetteer, Place, distance_km

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
