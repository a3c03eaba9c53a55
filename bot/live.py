"""Shared live state: small, fast, short-lived data that app instances share.

Two implementations of one interface: ``RedisLiveState`` when ``REDIS_URL`` is
set (several instances share it), and ``MemoryLiveState`` for a single node.
The in-process one is a real implementation for one process, not a test double.

Data kept here is pseudonymous only (sender ids are HMACs, see ``bot.identity``).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from redis.asyncio import Redis


class LiveState(Protocol):
    """Scored indexes (member -> score), e.g. conversations by last activity."""

    async def index_add(self, index: str, member: str, score: float) -> None:
        """Add ``member`` to ``index`` or update its score."""

    async def index_below(self, index: str, max_score: float, limit: int) -> list[str]:
        """Return up to ``limit`` members with a score <= ``max_score``, lowest first."""

    async def index_remove(self, index: str, member: str) -> None:
        """Remove ``member`` from ``index`` (no error when absent)."""

    async def ping(self) -> None:
        """Raise when the state cannot be reached."""

    async def close(self) -> None:
        """Release connections."""


class MemoryLiveState:
    """Live state of one process, guarded by an asyncio lock."""

    def __init__(self) -> None:
        self._indexes: dict[str, dict[str, float]] = {}
        self._lock = asyncio.Lock()

    async def index_add(self, index: str, member: str, score: float) -> None:
        async with self._lock:
            self._indexes.setdefault(index, {})[member] = score

    async def index_below(self, index: str, max_score: float, limit: int) -> list[str]:
        async with self._lock:
            entries = self._indexes.get(index, {})
            due = sorted((score, member) for member, score in entries.items() if score <= max_score)
        return [member for _, member in due[:limit]]

    async def index_remove(self, index: str, member: str) -> None:
        async with self._lock:
            self._indexes.get(index, {}).pop(member, None)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisLiveState:
    """Live state in Redis, shared by every app instance; keys carry a prefix."""

    def __init__(self, redis: Redis, prefix: str = "helpline:") -> None:
        self._redis = redis
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str, prefix: str = "helpline:") -> RedisLiveState:
        return cls(Redis.from_url(url, decode_responses=True), prefix)

    async def index_add(self, index: str, member: str, score: float) -> None:
        await self._redis.zadd(self._prefix + index, {member: score})

    async def index_below(self, index: str, max_score: float, limit: int) -> list[str]:
        return await self._redis.zrangebyscore(
            self._prefix + index, "-inf", max_score, start=0, num=limit
        )

    async def index_remove(self, index: str, member: str) -> None:
        await self._redis.zrem(self._prefix + index, member)

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()


def open_live_state(redis_url: str | None) -> LiveState:
    """Redis when a URL is configured, otherwise the in-process implementation."""
    return RedisLiveState.from_url(redis_url) if redis_url else MemoryLiveState()
