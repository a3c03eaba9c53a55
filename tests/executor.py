"""Run a custom action through rasa-sdk's executor, as Rasa calls it, and read what she sees."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from rasa_sdk.executor import ActionExecutor

from tests.helpers import domain


@lru_cache
def action_executor() -> ActionExecutor:
    executor = ActionExecutor()
    executor.register_package("actions")
    return executor


def tracker(text: str, intent: str, entities: tuple[dict[str, Any], ...] = (), **slots: Any) -> dict[str, Any]:
    """Her latest message as the model classified it, with the slots set so far."""
    return {
        "sender_id": "web-test",
        "slots": {"language": None, "welcomed": None, "country": None, "warned_watched_device": None, **slots},
        "latest_message": {"text": text, "intent": {"name": intent, "confidence": 0.9},
                           "entities": list(entities)},
        "events": [], "paused": False, "followup_action": None, "active_loop": {},
        "latest_action_name": "action_listen",
    }


async def run(action: str, state: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The slots the action sets and the texts she sees, in order."""
    result = await action_executor().run({"next_action": action, "sender_id": "web-test",
                                          "tracker": state, "domain": domain(), "version": "3.6.21"})
    slots = {e["name"]: e["value"] for e in result.events if e["event"] == "slot"}
    return slots, [r["text"] for r in result.responses if r.get("text")]
