"""The console's live updates: a server-sent event stream per open console.

The stream polls the handoff service every ``POLL_SECONDS`` instead of listening to it:
her message, a take or a transfer may happen on another app instance, and only the
shared state (live state and the database) sees them all. It pushes

- ``queue``: the waiting chats, when the queue changed (waiting times tick in the page);
- ``chats``: the viewer's open chats (an administrator's: everyone's), when they changed;
- ``me``: the viewer, when away/back changed (also from the Telegram bot);
- ``lines``: new lines of the chat the page shows (``chat``), with the last line id as
  the event id, so that a reconnecting ``EventSource`` resumes after it;
- ``refused``: the viewer may not read that chat; ``signed_out``: the session ended, or
  the viewer is no longer a registered counsellor (the stream then ends).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from bot.console.auth import Sessions
from bot.console.views import chats_for, line_view, me_view, queue_of
from bot.handoff.records import Counsellor
from bot.handoff.service import HandoffService

POLL_SECONDS = 0.3
KEEPALIVE_SECONDS = 15.0


def event(name: str, data: Any, event_id: int | None = None) -> str:
    """One server-sent event (the JSON has no newline, so one data line)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class EventStream:
    """What one open console is sent, until it goes away or its session ends."""

    def __init__(self, service: HandoffService, sessions: Sessions, token: str, viewer: Counsellor,
                 chat_id: str | None, after_id: int, gone: Callable[[], Awaitable[bool]]) -> None:
        self._service = service
        self._sessions = sessions
        self._token = token
        self._viewer = viewer
        self._chat_id = chat_id
        self._after_id = after_id
        self._gone = gone
        self._sent: dict[str, str] = {}  # last pushed JSON per event name

    async def chunks(self) -> AsyncIterator[str]:
        """The stream's text, chunk by chunk."""
        last_write = time.monotonic()
        while not await self._gone():
            current = await self._sessions.counsellor_of(self._token)  # removed meanwhile: None
            if current is None or current.id != self._viewer.id:
                yield event("signed_out", {})
                return
            for chunk in await self._changes():
                last_write = time.monotonic()
                yield chunk
            if time.monotonic() - last_write > KEEPALIVE_SECONDS:
                last_write = time.monotonic()
                yield ": keepalive\n\n"
            await asyncio.sleep(POLL_SECONDS)

    async def _changes(self) -> list[str]:
        service, viewer = self._service, self._viewer
        chunks = [
            self._if_changed("queue", await queue_of(service), _without_waiting_times),
            self._if_changed("chats", await chats_for(service, viewer)),
            self._if_changed("me", me_view(viewer, await service.is_away(viewer.id))),
        ]
        if self._chat_id is not None:
            chunks.append(await self._new_lines(self._chat_id))
        return [chunk for chunk in chunks if chunk]

    def _if_changed(self, name: str, data: Any,
                    compared: Callable[[Any], Any] = lambda data: data) -> str | None:
        key = json.dumps(compared(data), sort_keys=True)
        if self._sent.get(name) == key:
            return None
        self._sent[name] = key
        return event(name, data)

    async def _new_lines(self, chat_id: str) -> str | None:
        lines = await self._service.lines(self._viewer, chat_id, self._after_id)
        if lines is None:
            self._chat_id = None
            return event("refused", {"handoff_id": chat_id})
        if not lines:
            return None
        self._after_id = lines[-1].id
        return event("lines", {"handoff_id": chat_id, "lines": [line_view(line) for line in lines]},
                     self._after_id)


def _without_waiting_times(queue: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The queue as compared between polls: a waiting time growing is not a change."""
    return [{k: v for k, v in waiting.items() if k != "waited_seconds"} for waiting in queue]
