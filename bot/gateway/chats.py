"""Erasure reaches her phone where the platform allows.

Registered with ``bot.erasure.Erasure``: when she confirms "delete my data", and
when the retention period ends, the bot deletes the chat's messages it still
can (Telegram: hers and its own, within Telegram's 48 hours), then forgets her
reply address and those message ids. Where a bot cannot delete (Viber,
WhatsApp), the erasure's confirmation tells her to delete the chat herself.
A platform that cannot be reached does not stop the erasure of our own data:
the deletion on her phone is best effort, logged without content, counted.
"""

from __future__ import annotations

import logging

from bot.gateway.addresses import ReplyAddresses
from bot.gateway.queues import Queues
from bot.metrics import GATEWAY_DELIVERIES
from channels.base import Channel

logger = logging.getLogger(__name__)


class PlatformChats:
    """The platform side of a conversation: its messages on her phone, her sealed address."""

    name = "reply addresses and platform chat"

    def __init__(self, addresses: ReplyAddresses, channels: dict[str, Channel], outbox: Queues) -> None:
        self._addresses = addresses
        self._channels = channels
        self._outbox = outbox

    async def erase(self, sender_id: str) -> None:
        # Replies still waiting would land on her phone after the deletion: they go too.
        # (The erasure's own confirmation is queued after this.)
        await self._outbox.forget(sender_id)
        address = await self._addresses.get(sender_id)
        message_ids = await self._addresses.take_message_ids(sender_id)
        channel = self._channels.get(address.platform) if address else None
        if address and channel and channel.can_delete and message_ids:
            try:
                await channel.delete(address, message_ids)
            except Exception as error:  # noqa: BLE001 - our own data is erased whatever the platform does
                GATEWAY_DELIVERIES.labels(channel.name, "delete failed").inc()
                logger.warning("deleting the chat on %s failed: %s", channel.name, type(error).__name__)
        await self._addresses.erase(sender_id)

    async def renew(self, sender_id: str) -> None:
        """Her address (and the chat's message ids) last the retention period again."""
        await self._addresses.renew(sender_id)
