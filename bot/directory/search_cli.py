"""``helpline directory search``: what the assistant would offer, for people keeping the directory.

Registered on the ``directory`` command group with ``register_search``; the
handler follows the group's convention (``handler(args) -> exit code``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bot.db import make_engine, make_session_factory
from bot.directory import migrate
from bot.directory.models import Category
from bot.directory.search import DEFAULT_RADIUS_KM, MAX_LIMIT, SearchQuery, describe, search
from bot.places import Gazetteer
from bot.settings import LANGUAGES, get_settings

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def register_search(subparsers: argparse._SubParsersAction) -> None:
    """Add ``search`` to the ``directory`` command group."""
    parser = subparsers.add_parser("search", help="search the directory as the assistant does")
    parser.add_argument("--category", choices=[category.value for category in Category])
    parser.add_argument("--place", help="town or municipality, any script or spelling")
    parser.add_argument("--q", default="", help="free text, any of the four languages")
    parser.add_argument("--open-now", action="store_true", help="only services open now")
    parser.add_argument("--free", action="store_true", help="only free services")
    parser.add_argument("--language", choices=LANGUAGES, default="en", help="texts in (default en)")
    parser.add_argument("--radius", type=float, default=DEFAULT_RADIUS_KM, help="nearby, in km")
    parser.add_argument("--limit", type=int, default=10, help=f"results, 1-{MAX_LIMIT}")
    parser.set_defaults(handler=_search)


def _search(args: argparse.Namespace) -> int:
    place = Gazetteer.load().resolve(args.place) if args.place else None
    if args.place and place is None:
        print(f"unknown place '{args.place}'", file=sys.stderr)
        return 2
    try:
        query = SearchQuery(
            category=Category(args.category) if args.category else None,
            place=place,
            radius_km=args.radius,
            language=args.language,
            free_only=args.free,
            open_now=args.open_now,
            text=args.q,
            limit=args.limit,
        )
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    url = get_settings().database_url
    if not migrate.is_up_to_date(url):
        print("the directory tables are missing or old: run `helpline directory migrate`",
              file=sys.stderr)  # fmt: skip
        return 1
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        result = search(session, query)
        lines = [_lines(n, describe(m, args.language)) for n, m in enumerate(result.matches, 1)]
    engine.dispose()
    print("\n".join(lines) if lines else "no services found")
    if result.has_more:
        print("(more results: raise --limit)")
    return 0


def _lines(number: int, shown: dict[str, Any]) -> str:
    where = shown["scope"].replace("_", "-")
    if shown["distance_km"] is not None:
        where += f", {shown['distance_km']:g} km"
    demo = "  [DEMO]" if shown["demo"] else ""
    phones = ", ".join(phone["number"] for phone in shown["phones"]) or "no phone"
    return (
        f"{number:2}. {shown['name']} ({shown['organisation']}) - {where}{demo}\n"
        f"    {phones} | {_when(shown)}"
    )


def _when(shown: dict[str, Any]) -> str:
    if shown["hours"]["always_open"] and shown["open_now"]:
        return "open 24/7"
    if shown["open_now"]:
        closes = shown["closes_at"]
        return f"open now, until {closes}" if closes else "open now"
    if shown["open_now"] is None:
        return "hours not listed"
    upcoming = shown["opens_next"]
    if upcoming is None:
        return "closed"
    return f"closed, opens {WEEKDAYS[upcoming['weekday']]} {upcoming['time']}"
