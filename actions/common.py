"""What every action needs: her language, her country, and saying a response."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot import emergency
from bot.directory.models import Category
from bot.places import Gazetteer, Place
from bot.responses import render
from bot.settings import LANGUAGES, get_settings

SAFETY_INTENTS = ("immediate_danger", "self_harm")
# What she may ask while the form asks her place; rules answer these (nlu_data/rules.yml),
# so a place named in such a message must not be taken as the form's answer.
FORM_INTERRUPTIONS = (*SAFETY_INTENTS, "ask_privacy", "ask_emergency_numbers", "delete_my_data",
                      "request_human", "goodbye", "choose_language", "thank", "bot_challenge",
                      "out_of_scope", "greet")
NO_PLACE = "-"  # the location slot when she would rather not say where she is


def latest_intent(tracker: Tracker) -> str | None:
    """The intent of her last message as classified, nlu_fallback included."""
    return (tracker.latest_message.get("intent") or {}).get("name")


def language_of(tracker: Tracker) -> str:
    """Her language; the default when the slot holds none of ours (every response has it)."""
    language = tracker.get_slot("language")
    return language if language in LANGUAGES else get_settings().default_language


def country_of(tracker: Tracker) -> str | None:
    """Her country's code, else the helpline's default country."""
    country = tracker.get_slot("country")
    return country if country and isinstance(country, str) else get_settings().default_country


def in_domain(domain: DomainDict, slot: str, value: Any) -> bool:
    """Whether ``value`` is one of the values the domain lists for categorical ``slot``.

    A ``/intent{...}`` shortcut can put anything in a slot (a number, a list, a
    10 kB string). Rasa sends the domain with categorical values lowercased.
    """
    values = {str(v).lower() for v in domain["slots"][slot].get("values") or ()}
    return isinstance(value, str) and value.lower() in values


def category_of(tracker: Tracker, domain: DomainDict) -> Category | None:
    """The service she asked for, or None when the slot holds no category the domain knows."""
    value = tracker.get_slot("service_category")
    return Category(value.lower()) if in_domain(domain, "service_category", value) else None


def place_from_id(place_id: Any) -> Place | None:
    """The gazetteer place of a ``place_id``, or None when there is none (stale, or any text)."""
    if not isinstance(place_id, str):
        return None
    try:
        return Gazetteer.load().get(place_id)
    except KeyError:
        return None


def say(
    dispatcher: CollectingDispatcher, domain: DomainDict, tracker: Tracker, name: str, **values: Any
) -> None:
    """Send response ``name`` of the domain in her language."""
    dispatcher.utter_message(**render(domain["responses"], name, language_of(tracker), **values))


def numbers_text(tracker: Tracker, self_harm: bool = False) -> str:
    """The numbers block for her country (or every country when it is not known)."""
    numbers = emergency.load()
    return numbers.numbers_for(country_of(tracker), language_of(tracker), self_harm=self_harm)
