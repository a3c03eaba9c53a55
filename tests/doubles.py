"""Test doubles of the app's collaborators (only here, never in the application)."""

from __future__ import annotations

import asyncio

from bot.assistant import AssistantUnavailable, BotMessage


class ScriptedAssistant:
    """Stands in for AssistantClient: canned replies, optional delay or outage; records erasures."""

    name = "rasa tracker (scripted)"

    def __init__(self, replies=(), delay: float = 0.0, up: bool = True, erase_up: bool = True):
        self.replies, self.delay, self.up, self.erase_up = list(replies), delay, up, erase_up
        self.erased: list[str] = []
        self.sent: list[tuple[str, str]] = []
        self.log: list[str] = []  # "send <text>", "done <text>", "erase" in the order they happened

    async def send(self, sender_id: str, text: str) -> list[BotMessage]:
        self.sent.append((sender_id, text))
        self.log.append(f"send {text}")
        await asyncio.sleep(self.delay)
        self.log.append(f"done {text}")
        if not self.up:
            raise AssistantUnavailable("ConnectError")
        return self.replies

    async def erase(self, sender_id: str) -> None:
        if not self.erase_up:
            raise AssistantUnavailable("ConnectError")
        self.erased.append(sender_id)
        self.log.append("erase")


class BrokenLiveState:
    """A live state whose every operation fails, as Redis does when it is gone."""

    def __getattr__(self, name: str):
        async def fail(*args, **kwargs):
            raise ConnectionError("live state down")

        return fail


class FrozenLiveState:
    """A live state that never answers, as a Redis stopped with SIGSTOP."""

    def __getattr__(self, name: str):
        async def hang(*args, **kwargs):
            await asyncio.Event().wait()

        return hang
