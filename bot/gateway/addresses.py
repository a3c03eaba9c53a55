"""Reply addresses: pseudonym → her platform address, sealed, for the conversation's lifetime.

What is kept, under the pseudonym only, each value sealed (``bot.gateway.sealing``):

- her address on the platform (``channels.base.Address``) and whether the
  platform refused further sends for good (she blocked the bot);
- the platform ids of the chat's messages, hers and the bot's, that the bot may
  delete when she asks for erasure (Telegram).

Both expire with the conversation's retention period, renewed by each of her
messages (and by ``renew``, while her conversation is kept without one: a message
she left for a counsellor), and ``erase`` removes them. Nothing here is ever logged.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from bot.gateway.sealing import Sealer
from bot.live import LiveState
from channels.base import Address


class ReplyAddresses:
    """Sealed reply addresses in live state (Redis or in-process)."""

    name = "reply addresses"

    def __init__(self, live: LiveState, sealer: Sealer, retention_seconds: float) -> None:
        self._live = live
        self._sealer = sealer
        self._ttl = retention_seconds

    async def remember(self, sender_id: str, address: Address) -> None:
        """Keep (or renew) her address: she wrote, so sends to her are allowed again.

        A platform's late retry of an older message renews the lifetime only: it
        must not move "when she last wrote" back (WhatsApp's 24-hour window).
        """
        record = await self._record(sender_id)
        if record is None or record["address"]["last_inbound_at"] <= address.last_inbound_at:
            record = {"address": asdict(address), "gone": False}
        await self._live.value_set(_key(sender_id), self._sealer.seal(json.dumps(record)), self._ttl)

    async def get(self, sender_id: str) -> Address | None:
        """Her address, or None when unknown, erased, expired, or refused by the platform."""
        record = await self._record(sender_id)
        if record is None or record["gone"]:
            return None
        return Address(**record["address"])

    async def is_gone(self, sender_id: str) -> bool:
        """Whether the platform refused her for good since she last wrote (not: unknown, erased)."""
        record = await self._record(sender_id)
        return record is not None and record["gone"]

    async def mark_gone(self, sender_id: str, refused: Address) -> bool:
        """The platform refused, for good, a send to ``refused``: stop until she writes again.

        Not when she has written since that reply's message (she unblocked the bot):
        returns whether she is marked.
        """
        record = await self._record(sender_id)
        if record is None or record["address"]["last_inbound_at"] > refused.last_inbound_at:
            return False
        record["gone"] = True
        await self._live.value_set(_key(sender_id), self._sealer.seal(json.dumps(record)), self._ttl)
        return True

    async def add_message_ids(self, sender_id: str, message_ids: list[str]) -> None:
        """Remember ids of the chat's messages, for deletion on erasure (only while she is known)."""
        if message_ids and await self._live.value_get(_key(sender_id)) is not None:
            sealed = [self._sealer.seal(message_id) for message_id in message_ids]
            await self._live.list_push(_ids_key(sender_id), sealed, self._ttl)

    async def take_message_ids(self, sender_id: str) -> list[str]:
        """The remembered message ids, removed from the store."""
        return [self._sealer.open(item) for item in await self._live.list_take(_ids_key(sender_id))]

    async def renew(self, sender_id: str) -> None:
        """Let what is kept of her last the retention period from now, as if she had written
        (nothing else changes: not when she last wrote, not whether she blocked the bot)."""
        for key in (_key(sender_id), _ids_key(sender_id)):
            await self._live.renew(key, self._ttl)

    async def erase(self, sender_id: str) -> None:
        await self._live.delete(_key(sender_id), _ids_key(sender_id))

    async def _record(self, sender_id: str) -> dict | None:
        sealed = await self._live.value_get(_key(sender_id))
        return json.loads(self._sealer.open(sealed)) if sealed else None


def _key(sender_id: str) -> str:
    return f"addresses:{sender_id}"


def _ids_key(sender_id: str) -> str:
    return f"addresses:messages:{sender_id}"
