"""How the handoff reaches her outside her own turn, on whichever channel she wrote from.

The messaging platforms: through the gateway's outbox, in order with everything else
she is sent, to the sealed address she last wrote from. The web chat: kept, sealed,
with her conversation's late replies, which her tab's socket collects (``bot.chat_socket``:
at once on this instance, within a second on another), or her next hello.
"""

from __future__ import annotations

import logging

from bot.assistant import BotMessage
from bot.conversation_store import ConversationStore
from bot.gateway.pipeline import Gateway
from bot.metrics import HANDOFFS

logger = logging.getLogger(__name__)


class ChatReach:
    def __init__(self, gateway: Gateway, store: ConversationStore) -> None:
        self._gateway = gateway
        self._store = store

    async def send(self, sender_id: str, channel: str, messages: list[BotMessage]) -> bool:
        if channel in self._gateway.channels:
            if await self._gateway.send_to(sender_id, messages):
                return True
            HANDOFFS.labels("unreachable").inc()
            logger.warning("a handoff message on %s has no address to go to", channel)
            return False
        await self._store.keep_late_replies(sender_id, messages)
        return True
