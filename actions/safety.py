"""Immediate danger and self-harm: the numbers first, nothing before them."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import country_of, latest_intent, numbers_text, say
from actions.watched_device import warn_after_numbers
from bot.directives import NUMBERS_DIRECTIVE


class ActionEmergencyNumbers(Action):
    """Give the emergency numbers; ask her place when her country is not known."""

    def name(self) -> str:
        return "action_emergency_numbers"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        self_harm = latest_intent(tracker) == "self_harm"
        response = "utter_self_harm_support" if self_harm else "utter_emergency_numbers"
        say(dispatcher, domain, tracker, response, numbers=numbers_text(tracker, self_harm))
        dispatcher.utter_message(json_message={NUMBERS_DIRECTIVE: True})
        warned = warn_after_numbers(dispatcher, domain, tracker)
        if country_of(tracker):
            return [SlotSet("numbers_need_country", False), *warned]
        if not tracker.active_loop_name:  # an active form asks her place itself, next
            say(dispatcher, domain, tracker, "utter_ask_location_for_numbers")
        return [SlotSet("numbers_need_country", True), *warned]
