"""What the app itself keeps of a conversation, in live state, for the retention period.

- her last activity, in an index the retention sweep reads;
- its context as the assistant last reported it (her language and country), so
  that the app can answer in her language with her country's numbers when the
  assistant cannot;
- replies that came when she was not there to read them: a slow turn's, after
  the app had answered her itself, and a counsellor's to the web chat
  (``bot.handoff.reach``). They are her conversation, so they are kept only
  sealed, with the gateway's ``Sealer`` (``ADDRESS_KEY``), until her tab or her
  next message takes them.

Keys carry the pseudonym only. ``erase`` removes the context and the late
replies, ``renew`` lets them last the retention period again; the activity index
is handled by ``bot.conversations``, which must not remove an entry that a newer
message renewed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from bot.assistant import BotMessage
from bot.gateway.sealing import Sealed, Sealer
from bot.live import LiveState

logger = logging.getLogger(__name__)

LAST_SEEN_INDEX = "conversations:last-seen"
# Conversations whose erasure she asked for and that could not finish: the sweep retries them
# as her request (everything goes), not as the retention.
ERASE_REQUESTED_INDEX = "conversations:erase-requested"


class ConversationStore:
    """Per-conversation live data, expiring with the retention period."""

    name = "live state"

    def __init__(self, live: LiveState, retention_seconds: float, sealer: Sealer) -> None:
        self._live = live
        self._ttl = retention_seconds
        self._sealer = sealer
        self._watchers: dict[str, set[asyncio.Event]] = {}

    async def touch(self, sender_id: str, now: float) -> None:
        await self._live.index_add(LAST_SEEN_INDEX, sender_id, now)

    async def remember_context(self, sender_id: str, context: dict[str, Any]) -> None:
        await self._live.value_set(_context_key(sender_id), json.dumps(context), self._ttl)

    async def context(self, sender_id: str) -> dict[str, Any]:
        stored = await self._live.value_get(_context_key(sender_id))
        return json.loads(stored) if stored else {}

    async def keep_late_replies(self, sender_id: str, replies: list[BotMessage]) -> None:
        """Keep ``replies`` for her, sealed, after any kept before; wake her open sockets here."""
        if replies:
            sealed = [self._sealer.seal(json.dumps(reply.to_rest())) for reply in replies]
            await self._live.list_push(_late_key(sender_id), sealed, self._ttl)
            for event in self._watchers.get(sender_id, ()):
                event.set()

    async def take_late_replies(self, sender_id: str) -> list[BotMessage]:
        """Every reply kept for her, oldest first, and no longer kept.

        One that cannot be opened (sealed under a key no longer configured) is dropped
        and logged: the others still reach her.
        """
        replies = []
        for item in await self._live.list_take(_late_key(sender_id)):
            try:
                replies.append(BotMessage.from_rest(json.loads(self._sealer.open(item))))
            except Sealed:
                logger.error("a kept reply could not be opened: dropped")
        return replies

    def watch(self, sender_id: str) -> asyncio.Event:
        """An event set each time a reply is kept for her in this process, from now on (the
        watcher clears it); ``unwatch`` it when done. Other instances' replies set nothing."""
        event = asyncio.Event()
        self._watchers.setdefault(sender_id, set()).add(event)
        return event

    def unwatch(self, sender_id: str, event: asyncio.Event) -> None:
        watchers = self._watchers.get(sender_id, set())
        watchers.discard(event)
        if not watchers:
            self._watchers.pop(sender_id, None)

    async def renew(self, sender_id: str) -> None:
        for key in (_context_key(sender_id), _late_key(sender_id)):
            await self._live.renew(key, self._ttl)

    async def erase(self, sender_id: str) -> None:
        await self._live.delete(_context_key(sender_id), _late_key(sender_id))


def _context_key(sender_id: str) -> str:
    return f"conversations:context:{sender_id}"


def _late_key(sender_id: str) -> str:
    return f"conversations:late-replies:{sender_id}"
