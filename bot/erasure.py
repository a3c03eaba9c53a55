"""One ``erase`` for every store that holds something of a conversation, and one ``renew``.

Each store that keeps anything under a conversation's pseudonym (Rasa's tracker
and lock, the app's live state, reply addresses, queues, transcripts) registers
an ``Erasable`` here, so that "delete my data" and the retention sweep reach all
of them through one call. A store that fails does not stop the others; the
caller learns which failed and retries later.

Her request and the retention differ in one thing: a store that keeps something
under its own, longer retention is ``Retaining``. The transcript of a chat handed off
to a counsellor is kept ``TRANSCRIPT_RETENTION_DAYS`` (30) for the counsellors who
handled it, and purged by the handoff itself; the conversation's retention (24 h
after her last message) only ``expire``s it there, and her "delete my data" erases it
at once, as everything else.

A store whose data also expires by itself (a TTL of the retention period:
her reply address, her context, Rasa's tracker in Redis) is ``Renewable`` too:
``renew`` makes it last the retention period again, as her own message would.
A conversation kept on purpose beyond her last message (a message she left for
a counsellor, ``bot.handoff``) must not lose half of itself to a TTL meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from redis.asyncio import Redis

from bot.rasa_endpoints import RASA_KEY_PREFIX

logger = logging.getLogger(__name__)


class Erasable(Protocol):
    """A store that can forget one conversation."""

    name: str

    async def erase(self, sender_id: str) -> None:
        """Remove everything kept under ``sender_id``; no error when there is nothing."""


@runtime_checkable
class Retaining(Protocol):
    """A store that keeps some of a conversation under its own retention, longer than the
    conversation's, and purges that itself (the handoff's transcript)."""

    name: str

    async def expire(self, sender_id: str) -> None:
        """The conversation's retention has passed: remove what lasts only as long as it; what
        has its own retention stays for the store's purge."""


@runtime_checkable
class Renewable(Protocol):
    """A store whose data of a conversation expires by itself, after the retention period."""

    name: str

    async def renew(self, sender_id: str) -> None:
        """Let what is kept under ``sender_id`` last the retention period from now."""


class ErasureIncomplete(Exception):
    """Some stores could not erase the conversation; they are named, nothing else is said."""

    def __init__(self, failed: list[str]) -> None:
        super().__init__(", ".join(failed))
        self.failed = failed


class Erasure:
    """The registry of erasable stores."""

    def __init__(self, stores: Iterable[Erasable] = ()) -> None:
        self._stores: list[Erasable] = list(stores)

    def register(self, store: Erasable, first: bool = False) -> None:
        """Add a store; ``first``: erased before those registered so far."""
        if first:
            self._stores.insert(0, store)
        else:
            self._stores.append(store)

    @property
    def store_names(self) -> list[str]:
        return [store.name for store in self._stores]

    async def erase(self, sender_id: str, *, requested: bool) -> None:
        """Erase ``sender_id`` from every store; raise ErasureIncomplete naming those that failed.

        ``requested``: she asked ("delete my data"), and everything goes; otherwise the
        conversation's retention passed, and a ``Retaining`` store only ``expire``s it."""
        failed = []
        for store in self._stores:
            try:
                if requested or not isinstance(store, Retaining):
                    await store.erase(sender_id)
                else:
                    await store.expire(sender_id)
            except Exception as error:  # noqa: BLE001 - every store gets its turn
                logger.warning("erasure failed in %s: %s", store.name, type(error).__name__)
                failed.append(store.name)
        if failed:
            raise ErasureIncomplete(failed)

    async def renew(self, sender_id: str) -> bool:
        """Renew ``sender_id`` in every ``Renewable`` store; whether all did (a failure is
        logged, and the caller tries again)."""
        renewed = True
        for store in self._stores:
            if not isinstance(store, Renewable):
                continue
            try:
                await store.renew(sender_id)
            except Exception as error:  # noqa: BLE001 - every store gets its turn
                logger.warning("renewal failed in %s: %s", store.name, type(error).__name__)
                renewed = False
        return renewed


class RasaRedisStores:
    """Rasa's tracker and lock of a conversation when Rasa keeps them in Redis.

    Rasa's ``RedisTrackerStore.save`` merges a saved tracker into the stored one,
    so replacing the events through Rasa's API erases nothing there: the keys
    are deleted instead. Key layout of Rasa 3.6: ``<prefix>:tracker:<sender>``
    (``DEFAULT_REDIS_TRACKER_STORE_KEY_PREFIX``) and ``<prefix>:lock:<sender>``.
    The tracker expires after the retention period (``record_exp``, renewed by
    Rasa on each turn, and by ``renew``); a lock lives only during a turn.
    """

    name = "rasa tracker and lock (redis)"

    def __init__(self, redis: Redis, retention_seconds: float, prefix: str = RASA_KEY_PREFIX) -> None:
        self._redis = redis
        self._retention = retention_seconds
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str, retention_seconds: float) -> RasaRedisStores:
        return cls(Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2), retention_seconds)

    def keys(self, sender_id: str) -> list[str]:
        return [self._tracker_key(sender_id), f"{self._prefix}:lock:{sender_id}"]

    def _tracker_key(self, sender_id: str) -> str:
        return f"{self._prefix}:tracker:{sender_id}"

    async def erase(self, sender_id: str) -> None:
        await self._redis.delete(*self.keys(sender_id))

    async def renew(self, sender_id: str) -> None:
        await self._redis.pexpire(self._tracker_key(sender_id), max(1, int(self._retention * 1000)))

    async def close(self) -> None:
        await self._redis.aclose()
