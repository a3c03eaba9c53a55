"""What the app itself keeps of a conversation, in live state, for the retention period.

- her last activity, in an index the retention sweep reads;
- its context as the assistant last reported it (her language and country), so
  that the app can answer in her language with her country's numbers when the
  assistant cannot;
- replies that arrived after the app had already answered her itself, delivered
  with her next message.

Keys carry the pseudonym only. ``erase`` removes the context and the late
replies, ``renew`` lets them last the retention period again; the activity index
is handled by ``bot.conversations``, which must not remove an entry that a newer
message renewed.
"""

from __future__ import annotations

import json
from typing import Any

from bot.assistant import BotMessage
from bot.live import LiveState

LAST_SEEN_INDEX = "conversations:last-seen"
# Conversations whose erasure she asked for and that could not finish: the sweep retries them
# as her request (everything goes), not as the retention.
ERASE_REQUESTED_INDEX = "conversations:erase-requested"


class ConversationStore:
    """Per-conversation live data, expiring with the retention period."""

    name = "live state"

    def __init__(self, live: LiveState, retention_seconds: float) -> None:
        self._live = live
        self._ttl = retention_seconds

    async def touch(self, sender_id: str, now: float) -> None:
        await self._live.index_add(LAST_SEEN_INDEX, sender_id, now)

    async def remember_context(self, sender_id: str, context: dict[str, Any]) -> None:
        await self._live.value_set(_context_key(sender_id), json.dumps(context), self._ttl)

    async def context(self, sender_id: str) -> dict[str, Any]:
        stored = await self._live.value_get(_context_key(sender_id))
        return json.loads(stored) if stored else {}

    async def keep_late_replies(self, sender_id: str, replies: list[BotMessage]) -> None:
        if replies:
            encoded = [json.dumps(reply.to_rest()) for reply in replies]
            await self._live.list_push(_late_key(sender_id), encoded, self._ttl)

    async def take_late_replies(self, sender_id: str) -> list[BotMessage]:
        return [BotMessage.from_rest(json.loads(item)) for item in await self._live.list_take(_late_key(sender_id))]

    async def renew(self, sender_id: str) -> None:
        for key in (_context_key(sender_id), _late_key(sender_id)):
            await self._live.renew(key, self._ttl)

    async def erase(self, sender_id: str) -> None:
        await self._live.delete(_context_key(sender_id), _late_key(sender_id))


def _context_key(sender_id: str) -> str:
    return f"conversations:context:{sender_id}"


def _late_key(sender_id: str) -> str:
    return f"conversations:late-replies:{sender_id}"
