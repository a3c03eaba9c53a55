"""How the handoff reaches her outside her own turn, on whichever channel she wrote from.

The messaging platforms: through the gateway's outbox, in order with everything else
she is sent, to the sealed address she last wrote from. The web chat: kept, sealed,
with her conversation's late replies, which her tab's socket collects (``bot.chat_socket``:
at once on this instance, within half a second on another), or her next hello.

``keep`` holds her conversation (that address included) as if she had just written,
while a message she left waits for a counsellor (``Conversations.keep``).

Some platforms take free-form messages only for a while after her last one (WhatsApp:
24 hours); ``reply_window_closes`` says until when, so that a counsellor's words are
refused at once rather than dropped later by the outbox.
"""

from __future__ import annotations

import logging

from bot.assistant import BotMessage
from bot.conversations import Conversations
from bot.gateway.pipeline import Gateway
from bot.metrics import HANDOFFS

logger = logging.getLogger(__name__)


class ChatReach:
    def __init__(self, gateway: Gateway, conversations: Conversations) -> None:
        self._gateway = gateway
        self._conversations = conversations

    async def send(self, sender_id: str, channel: str, messages: list[BotMessage]) -> bool:
        if channel in self._gateway.channels:
            if await self._gateway.send_to(sender_id, messages):
                return True
            HANDOFFS.labels("unreachable").inc()
            logger.warning("a handoff message on %s has no address to go to", channel)
            return False
        await self._conversations.store.keep_late_replies(sender_id, messages)
        return True

    async def keep(self, sender_id: str, now: float) -> bool:
        return await self._conversations.keep(sender_id, now)

    async def reply_window_closes(self, sender_id: str, channel: str) -> float | None:
        """When her platform stops taking messages to her (Unix time); None: no such limit (the
        web chat keeps replies until her tab collects them)."""
        if channel not in self._gateway.channels:
            return None
        return await self._gateway.reply_window_closes(sender_id)
