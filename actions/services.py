"""Finding services in the referral directory and presenting them to her.

The search is ``bot.directory.search``; this module decides what to ask it
(category from her request, her place, her language), lays out the top three
matches with the words of ``domain.yml``, pages through more, and records an
anonymous need event for the statistics of unmet needs.

The SQL is blocking, so it runs in a worker thread: the action server's event
loop goes on serving other conversations meanwhile.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from functools import lru_cache
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session, sessionmaker

from actions.common import (
    NO_PLACE, category_of, country_of, language_of, latest_intent, numbers_text, place_from_id, say,
)
from bot.db import make_engine
from bot.directory.models import Category, ContactKind, NeedEvent
from bot.directory.search import Match, Scope, SearchQuery, describe, search
from bot.responses import render
from bot.settings import get_settings

logger = logging.getLogger(__name__)

PAGE_SIZE = 3
SCOPE_HEADINGS = {
    Scope.NEARBY: "utter_services_nearby",
    Scope.COUNTRY_WIDE: "utter_services_country_wide",
    Scope.NATIONAL: "utter_services_national",
}
# The first heading when nothing was found where she is: it names the place it
# understood, so that she can tell whether she was understood.
NOTHING_NEARBY_HEADINGS = {
    Scope.COUNTRY_WIDE: "utter_services_none_nearby_country_wide",
    Scope.NATIONAL: "utter_services_none_nearby_national",
}


@lru_cache
def sessions() -> sessionmaker[Session]:
    return sessionmaker(make_engine(get_settings().database_url), expire_on_commit=False)


async def present_services(
    dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
) -> list[dict[str, Any]]:
    """Search for her category at her place and show a page of results; return slot events.

    Without a category the domain knows she is asked what she is looking for;
    without a place (nor "I would rather not say") she is asked where she is.
    """
    category = category_of(tracker, domain)
    if category is None:
        say(dispatcher, domain, tracker, "utter_how_can_i_help")
        return []
    place = place_from_id(tracker.get_slot("place_id"))
    location = tracker.get_slot("location")
    if place is None and location != NO_PLACE:
        say(dispatcher, domain, tracker, "utter_location_unknown" if location else "utter_ask_location")
        return [SlotSet("location", None)]
    key = f"{category}|{place.id if place else '-'}"
    more = latest_intent(tracker) == "affirm" and tracker.get_slot("last_search") == key
    offset = int(tracker.get_slot("results_offset") or 0) + PAGE_SIZE if more else 0
    query = SearchQuery(
        category=category, place=place, country=None if place else country_of(tracker),
        remote_only=location == NO_PLACE,
        language=language_of(tracker), text=_request_text(tracker, category),
        limit=PAGE_SIZE, offset=offset,
    )
    found = await asyncio.to_thread(_search_and_show, dispatcher, tracker, domain, query, not more)
    if found:
        say(dispatcher, domain, tracker, "utter_services_next")
    return [SlotSet("last_search", key), SlotSet("results_offset", offset)]


def _search_and_show(
    dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
    query: SearchQuery, record_need: bool,
) -> int:
    """Blocking, in a worker thread: show a page of matches, record the need; return how many.

    The cards are laid out while the session is open (they read the matches'
    related rows). The dispatcher is only touched here while the action awaits.
    """
    with sessions()() as session:
        matches = search(session, query).matches
        _show(dispatcher, tracker, domain, matches, query)
    if record_need:
        _record_need(tracker, query, found=len(matches))
    return len(matches)


def _request_text(tracker: Tracker, category: Category) -> str:
    """Her own words, to rank e-government procedures (which procedure she means)."""
    if category != Category.EGOV_SERVICE:
        return ""
    for event in reversed(tracker.events):
        if event.get("event") == "user" and (event.get("parse_data") or {}).get("intent", {}).get(
            "name"
        ) == "seek_egov_service":
            return event.get("text") or ""
    return ""


def _show(
    dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
    matches: list[Match], query: SearchQuery,
) -> None:
    """The page of matches under a heading per scope; the numbers when there is none."""
    if not matches:
        name = "utter_services_no_more" if query.offset else "utter_services_none"
        say(dispatcher, domain, tracker, name, numbers=numbers_text(tracker))
        return
    language = language_of(tracker)
    location = query.place.name if query.place else tracker.get_slot("location")
    headings = dict(SCOPE_HEADINGS)
    if query.place is not None and query.offset == 0 and matches[0].scope != Scope.NEARBY:
        headings[matches[0].scope] = NOTHING_NEARBY_HEADINGS[matches[0].scope]
    scope = None
    for number, match in enumerate(matches, start=query.offset + 1):
        if match.scope != scope:
            scope = match.scope
            say(dispatcher, domain, tracker, headings[scope], location=location)
        dispatcher.utter_message(text=service_card(domain["responses"], match, language, number))
    if any(match.demo for match in matches):
        say(dispatcher, domain, tracker, "utter_demo_notice")


def service_card(responses: dict[str, Any], match: Match, language: str, number: int) -> str:
    """One service as she reads it: name, what they offer, how to reach them, when."""
    card = describe(match, language)
    heading = f"{number}. {card['name']}"
    if card["distance_km"] is not None:
        heading += f" · {card['distance_km']:.0f} km"
    elif card["municipality"] and match.scope != Scope.NEARBY:
        heading += f" · {card['municipality']}"
    reach = [phone["number"] for phone in card["phones"]]
    reach += [link["value"] for link in card["links"] if link["kind"] == ContactKind.MESSAGING]
    websites = [link["value"] for link in card["links"] if link["kind"] == ContactKind.WEBSITE]
    lines = [
        heading,
        card["description"] or "",
        "☎ " + " · ".join(reach) if reach else "",
        "🌐 " + websites[0] if websites else "",
        _opening(responses, card, language, always_open=match.service.always_open),
    ]
    if match.service.egov is not None:
        lines.append(_procedure(responses, match.service.egov, language))
    return "\n".join(line for line in lines if line)


def _opening(responses: dict[str, Any], card: dict[str, Any], language: str, always_open: bool) -> str:
    def word(name: str, **values: Any) -> str:
        return render(responses, name, language, **values)["text"]

    parts = []
    if always_open:
        parts.append(word("utter_open_always"))
    elif card["open_now"]:
        parts.append(word("utter_open_now"))
    elif card["opens_next"] is not None:
        at = dt.datetime.fromisoformat(card["opens_next"]["at"])
        parts.append(word("utter_opens_at", when=at.strftime("%d.%m. %H:%M")))
    if card["free"]:
        parts.append(word("utter_free"))
    return " · ".join(parts)


def _procedure(responses: dict[str, Any], procedure: Any, language: str) -> str:
    texts = {t.language: t for t in procedure.texts}
    text = texts.get(language) or texts.get("en")
    if text is None:
        return ""
    visit = "utter_egov_visit_needed" if procedure.in_person_visit else "utter_egov_all_online"
    return render(
        responses, "utter_egov_procedure", language,
        steps=text.steps, documents=text.documents or "-", portal=procedure.portal_url or "-",
    )["text"] + "\n" + render(responses, visit, language)["text"]


def _record_need(tracker: Tracker, query: SearchQuery, found: int) -> None:
    """An anonymous need event: no sender, no text, time to the hour only.

    In a session and transaction of its own, rolled back on failure: losing a
    statistic (database locked, table missing) must never cost her the search.
    Only the error's type is logged: its text can hold the row's values.
    """
    place = query.place
    try:
        with sessions().begin() as session:
            session.add(
                NeedEvent(
                    at=dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0),
                    category=query.category,
                    country=place.country if place else query.country,
                    municipality=place.name if place else None,
                    place_id=place.id if place else None,
                    found=found > 0,
                    result_count=found,
                    language=query.language,
                    channel=tracker.sender_id.split("-", 1)[0] if tracker.sender_id else None,
                )
            )
    except Exception as error:  # noqa: BLE001 - whatever fails, the search she asked for stands
        logger.warning("need event not recorded: %s", type(error).__name__)


class ActionFindServices(Action):
    """Form submitted (or "more"): show the matching services.

    When she asked for the emergency numbers while the form asked her place,
    her place now gives her country: its numbers come first.
    """

    def name(self) -> str:
        return "action_find_services"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        if tracker.get_slot("numbers_need_country") and country_of(tracker):
            say(dispatcher, domain, tracker, "utter_emergency_numbers", numbers=numbers_text(tracker))
            events.append(SlotSet("numbers_need_country", False))
        return events + await present_services(dispatcher, tracker, domain)
