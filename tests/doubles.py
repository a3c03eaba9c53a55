"""Test doubles of the app's collaborators (only here, never in the application)."""

from __future__ import annotations

import asyncio
import json
import time

import datetime as dt
from zoneinfo import ZoneInfo

from bot.assistant import AssistantUnavailable, BotMessage
from bot.handoff.hours import Schedule
from bot.live import LiveState
from channels.base import SENT, Address, Delivery, DeliveryOutcome, Inbound, MalformedUpdate
from channels.whatsapp import WINDOW_SECONDS as WHATSAPP_WINDOW_SECONDS


class ScriptedAssistant:
    """Stands in for AssistantClient: canned replies, optional delay or outage; records erasures."""

    name = "rasa tracker (scripted)"

    def __init__(self, replies=(), delay: float = 0.0, up: bool = True, erase_up: bool = True):
        self.replies, self.delay, self.up, self.erase_up = list(replies), delay, up, erase_up
        self.erased: list[str] = []
        self.sent: list[tuple[str, str]] = []
        self.log: list[str] = []  # "send <text>", "done <text>", "erase" in the order they happened
        self.events: list[tuple[str, str]] = []  # (sender, "pause" | "resume") recorded in the tracker

    async def send(self, sender_id: str, text: str) -> list[BotMessage]:
        self.sent.append((sender_id, text))
        self.log.append(f"send {text}")
        await asyncio.sleep(self.delay)
        self.log.append(f"done {text}")
        if not self.up:
            raise AssistantUnavailable("ConnectError", reached=False)
        return self.replies

    async def record(self, sender_id: str, event: str) -> None:
        if not self.up:
            raise AssistantUnavailable("ConnectError", reached=False)
        self.events.append((sender_id, event))

    async def history(self, sender_id: str) -> list[tuple[str, str]]:
        if not self.up:
            raise AssistantUnavailable("ConnectError", reached=False)
        return [("her", text) for sender, text in self.sent if sender == sender_id]

    async def erase(self, sender_id: str) -> None:
        if not self.erase_up:
            raise AssistantUnavailable("ConnectError", reached=False)
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


class LoopbackChannel:
    """A platform of the tests: JSON updates ``{"user", "id", "text", "kind"}``, sends recorded.

    ``outcomes`` scripts what the next sends return (then SENT); ``deleted`` records deletions.
    An update's ``at`` is when she wrote (Unix time; now by default), for a platform with a
    ``reply_window_seconds`` (one named "whatsapp", say); sends do not look at it.
    """

    def __init__(self, name: str = "loopback", can_delete: bool = True,
                 reply_window_seconds: float | None = None) -> None:
        self.name, self.can_delete, self.reply_window_seconds = name, can_delete, reply_window_seconds
        self.sent: list[tuple[str, str | None, tuple[str, ...]]] = []  # (chat, text, payloads)
        self.outcomes: list = []
        self.deleted: list[tuple[str, list[str]]] = []
        self.acknowledged: list[str] = []
        self._next_id = 1000

    def verify(self, headers, body: bytes) -> bool:
        return headers.get("x-loopback") == "ok"

    def parse(self, body: bytes):
        try:
            data = json.loads(body)
            return [Inbound(self.name, data["user"], data["id"], data.get("kind", "text"),
                            Address(self.name, f"chat-{data['user']}", data.get("at", time.time())),
                            data.get("text", ""),
                            deletable_ids=(f"in-{data['id']}",), callback_id=data.get("callback"))]
        except (ValueError, KeyError, TypeError) as error:
            raise MalformedUpdate(str(error)) from error

    def handshake(self, params):
        return None

    def start_answer(self, welcome):
        return None

    async def send(self, address, message):
        if self.outcomes and (outcome := self.outcomes.pop(0)) is not SENT:
            return outcome
        self._next_id += 1
        self.sent.append((address.chat, message.text, tuple(b.payload for b in message.buttons)))
        return Delivery(DeliveryOutcome.SENT, sent_ids=(f"out-{self._next_id}",))

    async def acknowledge(self, callback_id: str) -> None:
        self.acknowledged.append(callback_id)

    async def delete(self, address, message_ids) -> None:
        self.deleted.append((address.chat, list(message_ids)))

    async def register_webhook(self, url: str) -> None:
        return None

    async def close(self) -> None:
        return None


class RecordingReach:
    """Stands in for the handoff's ``Reach``: records what she is sent outside her own turns, and
    when her conversation was kept for a message she left.

    ``she_wrote(sender, at)`` on a WhatsApp chat opens its 24-hour window from ``at``, as her
    message through the gateway does (before it, no window is known: no limit).
    """

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.kept: list[tuple[str, float]] = []
        self.last_inbound: dict[str, float] = {}

    async def send(self, sender_id: str, channel: str, messages: list[BotMessage]) -> bool:
        self.sent.extend((sender_id, message.text or "") for message in messages)
        return True

    async def keep(self, sender_id: str, now: float) -> bool:
        self.kept.append((sender_id, now))
        return True

    def she_wrote(self, sender_id: str, at: float) -> None:
        self.last_inbound[sender_id] = at

    async def reply_window_closes(self, sender_id: str, channel: str) -> float | None:
        if channel != "whatsapp" or sender_id not in self.last_inbound:
            return None
        return self.last_inbound[sender_id] + WHATSAPP_WINDOW_SECONDS

    def to(self, sender_id: str) -> list[str]:
        return [text for sender, text in self.sent if sender == sender_id]


class FrozenClock:
    """The handoff's clock, moved by hand (``clock.now += 601``)."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now


def always_open(zone: str = "UTC") -> Schedule:
    """Counsellors' hours: every day, all day."""
    return Schedule(ZoneInfo(zone), {day: ((dt.time(0), None),) for day in range(7)}, frozenset())


class ClockedLiveState:
    """A real live state (in-process or Redis) whose values and lists expire on the test's clock
    (a ``FrozenClock`` moved by hand) as well as their own: what Redis would have forgotten in
    the hours a test skips. ``deadlines`` is shared by the instances of one world."""

    def __init__(self, live: LiveState, clock: FrozenClock, deadlines: dict[str, float]) -> None:
        self._inner, self._clock, self._deadlines = live, clock, deadlines

    def __getattr__(self, name: str):  # indexes, locks, ping, close, the inner store itself
        return getattr(self._inner, name)

    async def value_set(self, key: str, value: str, ttl_seconds: float) -> None:
        self._deadlines[key] = self._clock() + ttl_seconds
        await self._inner.value_set(key, value, ttl_seconds)

    async def list_push(self, key: str, values: list[str], ttl_seconds: float) -> None:
        await self._expire(key)
        self._deadlines[key] = self._clock() + ttl_seconds
        await self._inner.list_push(key, values, ttl_seconds)

    async def renew(self, key: str, ttl_seconds: float) -> None:
        await self._expire(key)
        if key in self._deadlines:
            self._deadlines[key] = self._clock() + ttl_seconds
        await self._inner.renew(key, ttl_seconds)

    async def value_get(self, key: str) -> str | None:
        await self._expire(key)
        return await self._inner.value_get(key)

    async def list_take(self, key: str) -> list[str]:
        await self._expire(key)
        self._deadlines.pop(key, None)
        return await self._inner.list_take(key)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._deadlines.pop(key, None)
        await self._inner.delete(*keys)

    async def forget_expired(self) -> None:
        """Drop from the inner store everything past its deadline (Redis would have by now)."""
        for key in list(self._deadlines):
            await self._expire(key)

    async def _expire(self, key: str) -> None:
        deadline = self._deadlines.get(key)
        if deadline is not None and deadline <= self._clock():
            del self._deadlines[key]
            await self._inner.delete(key)
