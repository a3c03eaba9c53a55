"""Acknowledging a request, a counsellor, erasure and not understanding."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import category_of, place_from_id, say
from bot.directives import ERASE_DIRECTIVE, HANDOFF_DIRECTIVE
from bot.settings import get_settings


def handoff_directive(tracker: Tracker, domain: DomainDict, reason: str) -> dict[str, Any]:
    """Ask the app for a person: what a counsellor's summary shows (no text of hers)."""
    category = category_of(tracker, domain)
    place = place_from_id(tracker.get_slot("place_id"))
    return {HANDOFF_DIRECTIVE: {"reason": reason, "need": category.value if category else None,
                                "place": place.name if place else None}}


def counsellor_topics() -> frozenset[str]:
    """Service categories the helpline wants a person for (``HANDOFF_TOPICS``)."""
    return frozenset(t.strip() for t in get_settings().handoff_topics.split(",") if t.strip())


class ActionAcknowledgeService(Action):
    """One sentence that shows she was understood, before the search asks anything.

    When her request carries no category the domain knows (a shortcut can send
    any value), she is asked what she is looking for instead.
    """

    def name(self) -> str:
        return "action_acknowledge_service"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        category = category_of(tracker, domain)
        say(dispatcher, domain, tracker, f"utter_ack_{category}" if category else "utter_how_can_i_help")
        if category and category.value in counsellor_topics():
            dispatcher.utter_message(json_message=handoff_directive(tracker, domain, "topic"))
        return []


class ActionRequestHuman(Action):
    """She asked for a person: the app's handoff asks her consent and queues the chat (or
    says when a person can be reached, with the numbers, when no counsellor can be)."""

    def name(self) -> str:
        return "action_request_human"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(json_message=handoff_directive(tracker, domain, "asked"))
        return []


class ActionDeleteMyData(Action):
    """Confirmed erasure: the app erases the tracker once this turn is saved."""

    def name(self) -> str:
        return "action_delete_my_data"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        say(dispatcher, domain, tracker, "utter_data_deleted")
        dispatcher.utter_message(json_message={ERASE_DIRECTIVE: True})
        return []


class ActionFallback(Action):
    """Two stages: ask her to say it otherwise, then offer a person."""

    def name(self) -> str:
        return "action_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        if (tracker.get_slot("fallback_count") or 0) >= 2:
            say(dispatcher, domain, tracker, "utter_offer_counsellor")
        else:
            say(dispatcher, domain, tracker, "utter_ask_rephrase")
        return []
