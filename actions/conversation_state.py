"""Runs after every message of hers, before the assistant chooses what to do.

Rasa calls ``action_validate_slot_mappings`` from ``action_extract_slots`` and
keeps the slots it sets and the messages it sends. That makes it the one place
for what must hold on every turn:

- her language: an explicit choice wins; otherwise the detected language of a
  message long enough to tell; otherwise the conversation keeps its language;
- her place: a town or country named in the message, resolved to a gazetteer
  place (and so a country for the emergency numbers);
- when she says he watches her phone or accounts, the warning that he may see
  this chat too, before anything else (``actions/watched_device.py``);
- the welcome on the first message, except when that message is about danger
  or self-harm: then the numbers come first, with nothing before them;
- the count of consecutive messages the assistant did not understand.
- how long the conversation is kept, in her language, for the welcome and
  the privacy note.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    FORM_INTERRUPTIONS, NO_PLACE, SAFETY_INTENTS, in_domain, language_of, latest_intent,
    place_from_id, say,
)
from actions.watched_device import warn_before_reply
from bot.directives import CONTEXT_DIRECTIVE
from bot.language import detect, explicit_choice
from bot.places import Gazetteer, Place
from bot.responses import hours_text
from bot.settings import LANGUAGES, get_settings

# Longer than any place name she would write: not kept, so never echoed back.
MAX_LOCATION_CHARS = 100


class ActionUpdateConversationState(Action):
    def name(self) -> str:
        return "action_validate_slot_mappings"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        slots: dict[str, Any] = {}
        slots.update(_language(tracker))
        slots.update(_place(tracker))
        slots.update(_validated(tracker, domain, slots))
        slots.update(_retention_period(tracker, domain, slots))
        slots["fallback_count"] = (
            (tracker.get_slot("fallback_count") or 0) + 1
            if latest_intent(tracker) == "nlu_fallback"
            else 0
        )
        slots.update(warn_before_reply(dispatcher, domain, tracker, slots))  # he may see this chat
        if not tracker.get_slot("welcomed"):
            slots["welcomed"] = True
            tracker.slots.update(slots)  # render the welcome in the language just detected
            if latest_intent(tracker) not in SAFETY_INTENTS:
                say(dispatcher, domain, tracker, "utter_welcome",
                    retention_period=tracker.get_slot("retention_period"))
        _report_context(dispatcher, tracker, slots)
        return [SlotSet(name, value) for name, value in slots.items()]


def _retention_period(tracker: Tracker, domain: DomainDict, slots: dict[str, Any]) -> dict[str, str]:
    """How long her conversation is kept, in her language: "1 hour", "24 sata", "21 час".

    Rasa fills the privacy note (a rule's response) from the slot as it is, so
    the slot is rendered again whenever her language, or the setting, changes.
    """
    language = slots.get("language") or language_of(tracker)
    period = hours_text(domain["responses"], language, get_settings().conversation_retention_hours)
    return {} if period == tracker.get_slot("retention_period") else {"retention_period": period}


def _report_context(dispatcher: CollectingDispatcher, tracker: Tracker, slots: dict[str, Any]) -> None:
    """Tell the app her language and country when they change (for its safety fallback)."""
    if "language" in slots or "country" in slots:
        context = {name: slots.get(name, tracker.get_slot(name)) for name in ("language", "country")}
        dispatcher.utter_message(json_message={CONTEXT_DIRECTIVE: context})


def _entity(tracker: Tracker, name: str) -> str | None:
    """The entity's value when it is text: a shortcut can send numbers, lists or objects."""
    value = next(tracker.get_latest_entity_values(name), None)
    return value if isinstance(value, str) else None


def _language(tracker: Tracker) -> dict[str, str]:
    chosen = _entity(tracker, "language")
    text = tracker.latest_message.get("text") or ""
    if chosen not in LANGUAGES and not text.startswith("/"):
        chosen = explicit_choice(text) or detect(text)  # "anglisht" asks for English
    if chosen in LANGUAGES:
        return {"language": chosen}
    if not tracker.get_slot("welcomed"):  # the slot's initial value is only a stand-in
        return {"language": get_settings().default_language}
    return {}


def _place(tracker: Tracker) -> dict[str, Any]:
    asked_for_place = tracker.get_slot("requested_slot") == "location"
    if asked_for_place and latest_intent(tracker) == "deny":
        return {"location": NO_PLACE, "place_id": None}
    gazetteer = Gazetteer.load()
    named = _entity(tracker, "location")
    place: Place | None = None
    if named:
        place = gazetteer.resolve(named)
    if place is None and not (tracker.latest_message.get("text") or "").startswith("/"):
        place = gazetteer.find_in(tracker.latest_message.get("text") or "")
    if asked_for_place and latest_intent(tracker) in FORM_INTERRUPTIONS:
        # She asked something else (danger named with her town, say): the rules answer it
        # with her country's numbers; the form must not take the town and run a search.
        return {"country": place.country} if place else {}
    if place is not None:
        return {"location": place.name, "place_id": place.id, "country": place.country}
    if named:
        return {"location": named, "place_id": None}
    return {}


def _validated(tracker: Tracker, domain: DomainDict, slots: dict[str, Any]) -> dict[str, Any]:
    """Corrections to the slots that text or a ``/intent{...}`` shortcut can fill.

    Rasa fills ``service_category`` from any entity value, and old slots can
    outlive the data they point at (a ``place_id`` the gazetteer no longer
    has). A value the domain does not know becomes None (her language: the
    default), so that no action meets it; the words she gave as her place are
    kept as text when they are no place id.
    """

    def current(name: str) -> Any:
        return slots[name] if name in slots else tracker.get_slot(name)

    category, country = current("service_category"), current("country")
    location, language = current("location"), current("language")
    checked = {
        "service_category": category.lower()
        if in_domain(domain, "service_category", category) else _category_of_intent(tracker, domain),
        "country": country.upper() if in_domain(domain, "country", country) else None,
        "place_id": current("place_id") if place_from_id(current("place_id")) else None,
        "location": location
        if isinstance(location, str) and len(location) <= MAX_LOCATION_CHARS else None,
        "language": language if language in LANGUAGES else get_settings().default_language,
    }
    return {name: value for name, value in checked.items() if value != current(name)}


def _category_of_intent(tracker: Tracker, domain: DomainDict) -> str | None:
    """The category her intent stands for (the slot's from_intent mapping), e.g. legal_aid."""
    for mapping in domain["slots"]["service_category"].get("mappings") or ():
        if mapping.get("type") == "from_intent" and mapping.get("intent") == latest_intent(tracker):
            return mapping.get("value")
    return None
