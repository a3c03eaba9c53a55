"""Directory search latency with 100,000 synthetic services, on SQLite and PostgreSQL.

    .venv/bin/python bench/bench_directory.py [--services 100000] [--runs 300]

Services are spread over the gazetteer's real towns in proportion to their
population (a floor lets villages have some) and scattered around them (about
1 km in a village, 8 km in Belgrade); 10% of those not remote are known only by
their place. Categories, remote helplines, opening hours, holidays and texts in
the four languages are mixed as in a real directory. The SQLite database is a
temporary file; the PostgreSQL database is created on ``--postgres`` and
dropped at the end. Every scenario is timed on the schema as migrated, with the
search keys the importer would write. Targets: p95 < 50 ms on SQLite, < 20 ms on PostgreSQL.
Latency depends on the machine's load: the load average is printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.orm import sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.db import make_engine  # noqa: E402
from bot.directory.migrate import upgrade  # noqa: E402
from bot.directory.models import (  # noqa: E402
    COUNTRIES,
    Category,
    ClosedDay,
    ContactPoint,
    OpeningHours,
    Organisation,
    SearchKey,
    Service,
    ServiceLanguage,
    ServiceTargetGroup,
    ServiceText,
    TargetGroup,
)
from bot.directory.search import SearchQuery, search  # noqa: E402
from bot.directory.search_keys import keys_of  # noqa: E402
from bot.places import Gazetteer, Place  # noqa: E402

POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SEED = 20260101
CHUNK = 5_000
NOW = dt.datetime(2026, 3, 11, 9, 30, tzinfo=dt.UTC)  # a Wednesday morning

CATEGORY_WEIGHTS: dict[Category, int] = {
    Category.LEGAL_AID: 15, Category.PSYCHOSOCIAL_SUPPORT: 18, Category.SHELTER: 5,
    Category.MEDICAL: 15, Category.POLICE: 10, Category.HELPLINE: 3, Category.EGOV_SERVICE: 6,
    Category.ECONOMIC_SUPPORT: 10, Category.ONLINE_VIOLENCE_SUPPORT: 2,
    Category.SOCIAL_SERVICES: 16,
}  # fmt: skip
REMOTE_SHARE = {
    Category.HELPLINE: 0.8, Category.ONLINE_VIOLENCE_SUPPORT: 0.6, Category.EGOV_SERVICE: 0.5,
}  # fmt: skip
CALLING_CODES = {"AL": 355, "XK": 383, "MK": 389, "RS": 381, "BA": 387, "ME": 382}
# What each category offers, in en / sq / sr / mk: the words free-text queries look for.
OFFERS: dict[Category, tuple[str, str, str, str]] = {
    Category.LEGAL_AID: ("Free lawyer and legal advice", "Avokat falas dhe këshillim ligjor",
                         "Besplatan advokat i pravna pomoć", "Бесплатен адвокат и правна помош"),
    Category.PSYCHOSOCIAL_SUPPORT: ("Counselling with a psychologist", "Këshillim me psikolog",
                                    "Savetovanje sa psihologom", "Советување со психолог"),
    Category.SHELTER: ("Safe shelter for women and children", "Strehim i sigurt për gra dhe fëmijë",
                       "Sigurna kuća za žene i decu", "Засолниште за жени и деца"),
    Category.MEDICAL: ("Health centre and gynaecology", "Qendër shëndetësore dhe gjinekologji",
                       "Dom zdravlja i ginekologija", "Здравствен дом и гинекологија"),
    Category.POLICE: ("Police station, domestic violence unit", "Stacioni i policisë, njësia për dhunë",
                      "Policijska stanica, jedinica za nasilje", "Полициска станица, одделение за насилство"),
    Category.HELPLINE: ("Helpline for women, call any time", "Linjë ndihmëse për gra",
                        "SOS telefon za žene", "СОС линија за жени"),
    Category.EGOV_SERVICE: ("Apply online for social assistance", "Apliko online për ndihmë ekonomike",
                            "Prijava za socijalnu pomoć preko interneta", "Пријава за социјална помош преку интернет"),
    Category.ECONOMIC_SUPPORT: ("Job training and small grants", "Trajnim për punë dhe grante",
                                "Obuka za posao i mali grantovi", "Обука за работа и мали грантови"),
    Category.ONLINE_VIOLENCE_SUPPORT: ("Help with online harassment", "Ndihmë për ngacmim në internet",
                                       "Pomoć kod uznemiravanja na internetu", "Помош при вознемирување на интернет"),
    Category.SOCIAL_SERVICES: ("Centre for social work", "Qendra për punë sociale",
                               "Centar za socijalni rad", "Центар за социјална работа"),
}  # fmt: skip
FILLER = (
    "Confidential, we listen without judging. Bring any documents you have.",
    "Konfidenciale, ju dëgjojmë pa gjykuar. Sillni dokumentet që keni.",
    "Poverljivo, slušamo bez osude. Ponesite dokumente koje imate.",
    "Доверливо, слушаме без осудување. Донесете ги документите што ги имате.",
)
TEXT_QUERIES = (
    "advokat", "lawyer", "psikolog", "психолог", "sigurna kuca", "strehim", "gynaecology",
    "socijalni rad", "grante", "интернет", "legal advice", "pravna pomoc",
)  # fmt: skip
COUNTRY_LANGUAGES = {
    "AL": ("sq",), "XK": ("sq", "sr"), "MK": ("mk", "sq"), "RS": ("sr",),
    "BA": ("bs", "sr", "hr"), "ME": ("cnr", "sr", "sq"),
}  # fmt: skip
HOLIDAYS = [dt.date(2026, 1, 1), dt.date(2026, 1, 2), dt.date(2026, 5, 1), dt.date(2026, 3, 11)]
WEEKDAYS, WEEK = range(5), range(7)
SPLIT_DAY = (("08:00", "12:00"), ("13:00", "17:00"))


def hours_for(rng: random.Random, category: Category) -> tuple[bool, list[tuple[int, str, str]]]:
    """A plausible week: 24/7 for helplines, police and shelters; office hours for most."""
    if category in (Category.HELPLINE, Category.POLICE, Category.SHELTER) and rng.random() < 0.7:
        return True, []
    roll = rng.random()
    if roll < 0.55:
        return False, [(day, "08:00", "16:00") for day in WEEKDAYS]
    if roll < 0.75:
        split = [(day, opens, closes) for day in WEEKDAYS for opens, closes in SPLIT_DAY]
        return False, split + [(5, "09:00", "13:00")]
    if roll < 0.85:
        return False, [(day, "20:00", "08:00") for day in WEEK]
    return False, []


def organisation_name(number: int) -> str:
    return f"Udruženje žena {number}"


def places_by_weight(gazetteer: Gazetteer) -> tuple[list[Place], list[int]]:
    towns = [place for place in gazetteer.places() if place.kind != "country"]
    return towns, [max(place.population, 3_000) for place in towns]


def generate(total: int) -> dict[Any, list[dict[str, Any]]]:
    """All rows of ``total`` services, by table."""
    rng = random.Random(SEED)
    towns, weights = places_by_weight(Gazetteer.load())
    categories, category_weights = list(CATEGORY_WEIGHTS), list(CATEGORY_WEIGHTS.values())
    tables: dict[Any, list[dict[str, Any]]] = {model.__table__: [] for model in (
        Organisation, Service, ServiceText, OpeningHours, ClosedDay, ContactPoint,
        ServiceLanguage, ServiceTargetGroup, SearchKey,
    )}  # fmt: skip
    organisations = max(1, total // 5)
    for number in range(1, organisations + 1):
        tables[Organisation.__table__].append(
            {"id": number, "external_id": f"org-{number}", "name": organisation_name(number)}
        )
    places = rng.choices(towns, weights, k=total)
    kinds = rng.choices(categories, category_weights, k=total)
    for number, (place, category) in enumerate(zip(places, kinds), start=1):
        _service_rows(rng, tables, number, place, category, rng.randint(1, organisations))
    return tables


def _service_rows(
    rng: random.Random,
    tables: dict[Any, list[dict[str, Any]]],
    number: int,
    place: Place,
    category: Category,
    organisation: int,
) -> None:
    remote = rng.random() < REMOTE_SHARE.get(category, 0.02)
    located = not remote and rng.random() < 0.9  # the others are known by their place only
    always_open, hours = hours_for(rng, category)
    spread = (1 + place.population**0.5 / 150) / 111  # degrees: 1 km in a village, 8 in Belgrade
    tables[Service.__table__].append({
        "id": number, "external_id": f"svc-{number}", "organisation_id": organisation,
        "category": category.value, "country": place.country, "place_id": place.id,
        "municipality": place.name, "address": None,
        "lat": place.lat + rng.gauss(0, spread) if located else None,
        "lon": place.lon + rng.gauss(0, spread * 1.35) if located else None,
        "remote": remote, "free": rng.random() < 0.8, "wheelchair": rng.random() < 0.3,
        "sign_language": rng.random() < 0.05, "interpretation": rng.random() < 0.1,
        "always_open": always_open, "timezone": place.timezone, "source": None,
        "last_verified": None if rng.random() < 0.1 else dt.date(2026, 3, 1) - dt.timedelta(rng.randint(0, 700)),
        "verified_by": None, "status": "active" if rng.random() > 0.03 else "suspended",
        "demo": False,
    })  # fmt: skip
    searchable = [organisation_name(organisation)]
    for language, offer, filler in zip(("en", "sq", "sr", "mk"), OFFERS[category], FILLER):
        name, description = f"{offer.split(',')[0]} {place.name}", f"{offer}. {filler}"
        tables[ServiceText.__table__].append({
            "service_id": number, "language": language, "name": name,
            "description": description, "how_to_access": None, "what_to_bring": None,
        })  # fmt: skip
        searchable += [name, description]
    tables[SearchKey.__table__].extend(
        {"service_id": number, "key": key} for key in sorted(keys_of(searchable))
    )
    for weekday, opens, closes in hours:
        tables[OpeningHours.__table__].append({
            "service_id": number, "weekday": weekday,
            "opens": dt.time.fromisoformat(opens), "closes": dt.time.fromisoformat(closes),
        })  # fmt: skip
    if rng.random() < 0.5:
        tables[ClosedDay.__table__].extend({"service_id": number, "day": day} for day in HOLIDAYS)
    tables[ContactPoint.__table__].append({
        "service_id": number, "position": 0, "kind": "phone", "note": None,
        "value": f"+{CALLING_CODES[place.country]}{rng.randint(10, 39)}{rng.randint(10**6, 10**7 - 1)}",
    })  # fmt: skip
    spoken = {rng.choice(COUNTRY_LANGUAGES[place.country])} | ({"en"} if rng.random() < 0.3 else set())
    languages = tables[ServiceLanguage.__table__]
    languages.extend({"service_id": number, "language": code} for code in spoken)
    if rng.random() < 0.2:
        group = rng.choice(list(TargetGroup)).value
        tables[ServiceTargetGroup.__table__].append({"service_id": number, "target_group": group})


def load(engine: Engine, tables: dict[Any, list[dict[str, Any]]]) -> None:
    """Insert the rows, then vacuum and analyze, as autovacuum would after a bulk import."""
    with engine.begin() as connection:
        for table, rows in tables.items():
            for start in range(0, len(rows), CHUNK):
                connection.execute(insert(table), rows[start : start + CHUNK])
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM"))
        connection.execute(text("ANALYZE"))


MakeQuery = Callable[[random.Random], SearchQuery]


def scenarios(towns: list[Place], weights: list[int]) -> dict[str, MakeQuery]:
    """Typical queries: her place weighted by population (women live where people live)."""
    categories, category_weights = list(CATEGORY_WEIGHTS), list(CATEGORY_WEIGHTS.values())
    villages = [place for place in towns if place.population < 3_000]

    def place(rng: random.Random) -> Place:
        return rng.choices(towns, weights)[0]

    def category(rng: random.Random) -> Category:
        return rng.choices(categories, category_weights)[0]

    return {
        "category + place": lambda rng: SearchQuery(category=category(rng), place=place(rng)),
        "category + place + open now": lambda rng: SearchQuery(
            category=category(rng), place=place(rng), open_now=True
        ),
        "free text + place": lambda rng: SearchQuery(
            text=rng.choice(TEXT_QUERIES), place=place(rng)
        ),
        "fallback to country-wide (village, 3 km)": lambda rng: SearchQuery(
            category=rng.choice([Category.ONLINE_VIOLENCE_SUPPORT, Category.HELPLINE]),
            place=rng.choice(villages),
            radius_km=3,
        ),
        "free text + country, no place": lambda rng: SearchQuery(
            text=rng.choice(TEXT_QUERIES), country=rng.choice(COUNTRIES[:6])
        ),
    }


@dataclass
class Timing:
    p50: float
    p95: float
    cpu_p50: float  # this process's CPU: what the search costs apart from the database and load
    firsts: dict[str, int]  # scope of the first result -> number of queries

    def __str__(self) -> str:
        return (
            f"p50 {self.p50:6.1f} ms   p95 {self.p95:6.1f} ms   "
            f"(client CPU p50 {self.cpu_p50:5.1f} ms)   first result: {self.firsts}"
        )


def measure(factory: sessionmaker, make: MakeQuery, runs: int) -> Timing:
    """Latency of one session + ``search`` per query, on the same queries for every database."""
    rng = random.Random(SEED)
    timings: list[float] = []
    cpu: list[float] = []
    firsts: dict[str, int] = {}
    for _ in range(runs):
        query = make(rng)
        started, started_cpu = time.perf_counter(), time.process_time()
        with factory() as session:
            result = search(session, query, NOW)
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        first = result.matches[0].scope.value if result.matches else "none"
        firsts[first] = firsts.get(first, 0) + 1
    cuts = statistics.quantiles(timings, n=100)
    return Timing(cuts[49], cuts[94], statistics.median(cpu), firsts)


def run(name: str, url: str, tables: dict[Any, list[dict[str, Any]]], runs: int) -> None:
    """Load the services, then time every scenario."""
    upgrade(url)
    engine = make_engine(url)
    started = time.perf_counter()
    load(engine, tables)
    load_average = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\n{name}: loaded in {time.perf_counter() - started:.0f} s; load average {load_average}")
    factory = sessionmaker(engine, expire_on_commit=False)
    towns, weights = places_by_weight(Gazetteer.load())
    for label, make in scenarios(towns, weights).items():
        measure(factory, make, 20)  # warm the connection pool and caches
        print(f"  {label:<42} {measure(factory, make, runs)}")
    engine.dispose()


@contextmanager
def temporary_postgres(admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards even if the bench fails."""
    name = f"bench_directory_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--postgres", default=POSTGRES_ADMIN, help="admin URL of the server")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    tables = generate(args.services)
    print(f"generated {args.services} services in {time.perf_counter() - started:.0f} s")
    with tempfile.TemporaryDirectory() as folder:
        run("SQLite", f"sqlite:///{folder}/bench.db", tables, args.runs)
    if not args.skip_postgres:
        with temporary_postgres(args.postgres) as url:
            run("PostgreSQL", url, tables, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
