"""What every action needs: her language, her country, and saying a response."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot import emergency
from bot.responses import render
from bot.settings import get_settings

SAFETY_INTENTS = ("immediate_danger", "self_harm")
NO_PLACE = "-"  # the location slot when she would rather not say where she is


def latest_intent(tracker: Tracker) -> str | None:
    """The intent of her last message as classified, nlu_fallback included."""
    return (tracker.latest_message.get("intent") or {}).get("name")


def language_of(tracker: Tracker) -> str:
    return tracker.get_slot("language") or get_settings().default_language


def country_of(tracker: Tracker) -> str | None:
    return tracker.get_slot("country") or get_settings().default_country


def say(
    dispatcher: CollectingDispatcher, domain: DomainDict, tracker: Tracker, name: str, **values: Any
) -> None:
    """Send response ``name`` of the domain in her language."""
    dispatcher.utter_message(**render(domain["responses"], name, language_of(tracker), **values))


def numbers_text(tracker: Tracker, self_harm: bool = False) -> str:
    """The numbers block for her country (or every country when it is not known)."""
    return emergency.load().numbers_for(country_of(tracker), language_of(tracker), self_harm=self_harm)
