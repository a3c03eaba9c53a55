"""Runs after every message of hers, before the assistant chooses what to do.

Rasa calls ``action_validate_slot_mappings`` from ``action_extract_slots`` and
keeps the slots it sets and the messages it sends. That makes it the one place
for what must hold on every turn:

- her language: an explicit choice wins; otherwise the detected language of a
  message long enough to tell; otherwise the conversation keeps its language;
- her place: a town or country named in the message, resolved to a gazetteer
  place (and so a country for the emergency numbers);
- the welcome on the first message, except when that message is about danger
  or self-harm: then the numbers come first, with nothing before them;
- the count of consecutive messages the assistant did not understand.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import NO_PLACE, SAFETY_INTENTS, latest_intent, say
from bot.language import detect
from bot.places import Gazetteer, Place
from bot.settings import LANGUAGES, get_settings


class ActionUpdateConversationState(Action):
    def name(self) -> str:
        return "action_validate_slot_mappings"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        slots: dict[str, Any] = {}
        slots.update(_language(tracker))
        slots.update(_place(tracker))
        slots["fallback_count"] = (
            (tracker.get_slot("fallback_count") or 0) + 1
            if latest_intent(tracker) == "nlu_fallback"
            else 0
        )
        if not tracker.get_slot("welcomed"):
            slots["welcomed"] = True
            slots["retention_hours"] = get_settings().conversation_retention_hours
            tracker.slots.update(slots)  # render the welcome in the language just detected
            if latest_intent(tracker) not in SAFETY_INTENTS:
                say(dispatcher, domain, tracker, "utter_welcome", retention_hours=slots["retention_hours"])
        return [SlotSet(name, value) for name, value in slots.items()]


def _entity(tracker: Tracker, name: str) -> str | None:
    return next(tracker.get_latest_entity_values(name), None)


def _language(tracker: Tracker) -> dict[str, str]:
    chosen = _entity(tracker, "language")
    text = tracker.latest_message.get("text") or ""
    if chosen not in LANGUAGES and not text.startswith("/"):
        chosen = detect(text)
    if chosen in LANGUAGES:
        return {"language": chosen}
    if tracker.get_slot("language") is None:
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
    if place is not None:
        return {"location": place.name, "place_id": place.id, "country": place.country}
    if named:
        return {"location": named, "place_id": None}
    return {}
