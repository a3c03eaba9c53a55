"""What happens to one message of hers, whatever channel it came from.

Channels (the web chat now, messaging platforms later) turn a platform message
into ``(sender_id, text)`` with a pseudonymous sender and call ``handle``; they
get back the replies to deliver. This is also where the privacy promises are
kept: the last-activity index that drives erasure after the retention period,
and erasure on request.
"""

from __future__ import annotations

import asyncio
import logging
import time

from bot.assistant import AssistantClient, AssistantUnavailable, BotMessage
from bot.live import LiveState

logger = logging.getLogger(__name__)

LAST_SEEN_INDEX = "conversations:last-seen"
ERASE_DIRECTIVE = "erase_conversation"


class Conversations:
    """Routes her messages to the assistant and erases conversations when due."""

    def __init__(self, assistant: AssistantClient, live: LiveState, retention_seconds: float):
        self._assistant = assistant
        self._live = live
        self._retention = retention_seconds

    async def handle(self, sender_id: str, text: str) -> list[BotMessage]:
        """Return the assistant's replies to ``text``; raises AssistantUnavailable."""
        await self._live.index_add(LAST_SEEN_INDEX, sender_id, time.time())
        replies = await self._assistant.send(sender_id, text)
        if any(reply.custom.get(ERASE_DIRECTIVE) for reply in replies):
            await self.erase(sender_id)
            logger.info("conversation %s erased at her request", sender_id)
        return [reply for reply in replies if reply.text or reply.buttons]

    async def erase(self, sender_id: str) -> None:
        await self._assistant.erase(sender_id)
        await self._live.index_remove(LAST_SEEN_INDEX, sender_id)

    async def erase_expired(self, now: float | None = None, batch: int = 100) -> int:
        """Erase conversations idle for longer than the retention period; return how many."""
        cutoff = (now if now is not None else time.time()) - self._retention
        erased = 0
        for sender_id in await self._live.index_below(LAST_SEEN_INDEX, cutoff, batch):
            try:
                await self.erase(sender_id)
                erased += 1
            except AssistantUnavailable:
                logger.warning("erasure postponed: assistant unavailable")
                break
        return erased

    async def sweep_forever(self, interval_seconds: float = 60.0) -> None:
        """Background task of the app: erase expired conversations every interval."""
        while True:
            erased = await self.erase_expired()
            if erased:
                logger.info("erased %d expired conversations", erased)
            await asyncio.sleep(interval_seconds)
