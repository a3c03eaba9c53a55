"""She told us where she is."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import category_of, numbers_text, place_from_id, say
from actions.services import present_services


class ActionLocationReceived(Action):
    """Her place: her country's numbers if they were pending, else services for her last request."""

    def name(self) -> str:
        return "action_location_received"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        if not _typed_or_named(tracker):  # the "another place" button: ask which
            say(dispatcher, domain, tracker, "utter_ask_location")
            return []
        if place_from_id(tracker.get_slot("place_id")) is None:
            say(dispatcher, domain, tracker, "utter_location_unknown")
            return []
        if tracker.get_slot("numbers_need_country"):
            say(dispatcher, domain, tracker, "utter_emergency_numbers", numbers=numbers_text(tracker))
            return [SlotSet("numbers_need_country", False)]
        if category_of(tracker, domain):
            return await present_services(dispatcher, tracker, domain)
        say(dispatcher, domain, tracker, "utter_location_noted", location=tracker.get_slot("location"))
        return []


def _typed_or_named(tracker: Tracker) -> bool:
    """Whether her last message could name a place: typed, or a button carrying one."""
    text = tracker.latest_message.get("text") or ""
    return bool(list(tracker.get_latest_entity_values("location"))) or not text.startswith("/")
