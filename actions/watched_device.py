"""When she says he watches her phone or accounts, warn her that he may see this chat too.

The warning (how to leave safely: quick exit, delete the chat, a safer device)
is the first reply of that turn, once per conversation. When the turn is about
danger or self-harm the numbers come first: the warning follows them.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import SAFETY_INTENTS, language_of, latest_intent
from bot.responses import render
from rasa_components.lexicon import load_lexicon, mentions_watched_device

RESPONSE = "utter_watched_device_warning"
SLOT = "warned_watched_device"


def warn_before_reply(
    dispatcher: CollectingDispatcher, domain: DomainDict, tracker: Tracker, slots: dict[str, Any]
) -> dict[str, Any]:
    """On every turn, before anything else is said; ``slots``: this turn's, her language among them."""
    if latest_intent(tracker) in SAFETY_INTENTS:
        return {}  # nothing before the numbers: action_emergency_numbers warns after them
    return _warn(dispatcher, domain, tracker, slots.get("language") or language_of(tracker))


def warn_after_numbers(
    dispatcher: CollectingDispatcher, domain: DomainDict, tracker: Tracker
) -> list[dict[str, Any]]:
    """Right after the emergency numbers."""
    warned = _warn(dispatcher, domain, tracker, language_of(tracker))
    return [SlotSet(name, value) for name, value in warned.items()]


def _warn(
    dispatcher: CollectingDispatcher, domain: DomainDict, tracker: Tracker, language: str
) -> dict[str, Any]:
    text = tracker.latest_message.get("text") or ""
    if tracker.get_slot(SLOT) or text.startswith("/") or not mentions_watched_device(_lexicon(), text):
        return {}
    dispatcher.utter_message(**render(domain["responses"], RESPONSE, language))
    return {SLOT: True}


@lru_cache
def _lexicon() -> dict[str, re.Pattern[str]]:
    return load_lexicon()
