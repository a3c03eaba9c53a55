"""HTTP search of the referral directory: ``GET /api/directory/search``.

Include ``router`` in the app and put a sessionmaker of the directory database
on ``app.state.directory_sessions``; each request gets its own session.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from sqlalchemy.orm import Session

from bot.directory.models import COUNTRIES, Category, TargetGroup
from bot.directory.search import (
    DEFAULT_RADIUS_KM,
    MAX_RADIUS_KM,
    Accessibility,
    SearchQuery,
    describe,
    search,
)
from bot.places import Gazetteer, Place, distance_km
from bot.settings import Language

__all__ = ["router"]

MAX_PAGE = 50
MAX_OFFSET = 1_000
# Coordinates farther than this from every gazetteer town are outside the
# covered countries: searched without a country.
COUNTRY_REACH_KM = 60.0

router = APIRouter(prefix="/api/directory", tags=["directory"])


def _session(request: Request) -> Iterator[Session]:
    with request.app.state.directory_sessions() as session:
        yield session


@router.get("/search")
def search_directory(
    session: Session = Depends(_session),
    category: Category | None = None,
    place: str | None = Query(None, max_length=100, description="Town or municipality, any script"),
    lat: float | None = Query(None, ge=-90, le=90),
    lon: float | None = Query(None, ge=-180, le=180),
    country: str | None = Query(None, description="ISO code; inferred from lat/lon when missing"),
    radius_km: float = Query(DEFAULT_RADIUS_KM, gt=0, le=MAX_RADIUS_KM),
    language: Language = "en",
    speaks_language_only: bool = False,
    free_only: bool = False,
    open_now: bool = False,
    accessibility: list[Accessibility] = Query([]),
    target_group: TargetGroup | None = None,
    q: str = Query("", max_length=200, description="Free text in any of the four languages"),
    limit: int = Query(10, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    """Search the referral directory, nearest services first.

    Where she is: ``place`` (a name in any script or spelling, resolved with the
    gazetteer, e.g. ``Niš``, ``Ниш``, ``Shkodra``; a country name lists the whole
    country) or ``lat`` + ``lon`` (+ ``country``), or neither.

    Filters: ``category``; ``free_only``; ``open_now`` (in each service's own
    time zone, honouring holidays); ``accessibility`` (repeatable:
    ``wheelchair``, ``sign_language``, ``interpretation``); ``target_group``
    (services for that group or for all women); ``speaks_language_only`` (staff
    speak ``language``); ``q`` (free text matched against names and
    descriptions in all languages and the organisation's name).

    Ranking: ``nearby`` services within ``radius_km`` by distance, then
    ``country_wide`` remote services (phone, online) of her country, then the
    ``national`` rest of her country by distance; ties by text match, then most
    recently verified.

    Response: ``{"place": {id, name, country, kind} | null, "country": "RS" |
    null, "results": [...], "has_more": bool}``. Each result is
    ``bot.directory.search.describe`` of a match in ``language``: name,
    description, phones (``number`` written to be tappable, ``tel`` URI),
    links, weekly hours, ``open_now``, ``closes_at``, ``opens_next``
    (``{at, weekday, time}`` local to the service), ``scope``, ``distance_km``,
    ``demo`` (true for example data that must be labelled as such).

    422 for an unknown category, place or country, or for lat without lon.
    """
    found = _resolve_place(place) if place else None
    if country is not None and country not in COUNTRIES:
        raise HTTPException(422, f"unknown country '{country}'; known: {', '.join(COUNTRIES)}")
    if country is None and found is None and lat is not None and lon is not None:
        country = _country_at(lat, lon)
    try:
        query = SearchQuery(
            category=category,
            place=found,
            lat=lat,
            lon=lon,
            country=None if found else country,
            radius_km=radius_km,
            language=language,
            speaks_language_only=speaks_language_only,
            free_only=free_only,
            open_now=open_now,
            accessibility=frozenset(accessibility),
            target_group=target_group,
            text=q,
            limit=limit,
            offset=offset,
        )
    except ValueError as error:
        raise HTTPException(422, str(error)) from error
    result = search(session, query)
    return {
        "place": _place_json(found),
        "country": query.in_country,
        "results": [describe(match, language) for match in result.matches],
        "has_more": result.has_more,
    }


def _resolve_place(name: str) -> Place:
    found = Gazetteer.load().resolve(name)
    if found is None:
        raise HTTPException(422, f"unknown place '{name}'")
    return found


def _country_at(lat: float, lon: float) -> str | None:
    """The country of the nearest gazetteer town, if she is within reach of one."""
    towns = [place for place in Gazetteer.load().places() if place.kind != "country"]
    nearest = min(towns, key=lambda town: distance_km(lat, lon, town.lat, town.lon))
    within = distance_km(lat, lon, nearest.lat, nearest.lon) <= COUNTRY_REACH_KM
    return nearest.country if within else None


def _place_json(place: Place | None) -> dict[str, str] | None:
    if place is None:
        return None
    return {"id": place.id, "name": place.name, "country": place.country, "kind": place.kind}
