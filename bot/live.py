"""Shared live state: small, fast, short-lived data that app instances share.

Two implementations of one interface: ``RedisLiveState`` when ``REDIS_URL`` is
set (several instances share it), and ``MemoryLiveState`` for a single node.
The in-process one is a real implementation for one process, not a test double.

Three kinds of data, each with the atomic operation its users need:

- scored indexes (conversations by last activity), with a conditional remove so
  that the retention sweep never removes an entry that a new message renewed;
- short-lived values and lists with an expiry (a conversation's context, replies
  that arrived after the app had answered her itself), which can be renewed;
- locks with an expiry (one sweeper at a time across instances).

Data kept here is pseudonymous only (sender ids are HMACs, see ``bot.identity``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from redis.asyncio import Redis


class LiveState(Protocol):
    """The operations every implementation provides, each atomic."""

    async def index_add(self, index: str, member: str, score: float) -> None:
        """Add ``member`` to ``index`` or update its score."""

    async def index_below(self, index: str, max_score: float, limit: int) -> list[str]:
        """Return up to ``limit`` members with a score <= ``max_score``, lowest first."""

    async def index_remove(self, index: str, member: str) -> None:
        """Remove ``member`` from ``index`` (no error when absent)."""

    async def index_claim(self, index: str, member: str, max_score: float) -> bool:
        """Remove ``member`` only if its score is still <= ``max_score``; return whether it was."""

    async def value_set(self, key: str, value: str, ttl_seconds: float) -> None:
        """Store ``value`` under ``key`` until it expires."""

    async def value_get(self, key: str) -> str | None:
        """The value under ``key``, or None when absent or expired."""

    async def list_push(self, key: str, values: list[str], ttl_seconds: float) -> None:
        """Append ``values`` to the list under ``key``; the whole list expires after the TTL."""

    async def list_take(self, key: str) -> list[str]:
        """Remove and return the whole list under ``key`` (empty when absent)."""

    async def renew(self, key: str, ttl_seconds: float) -> None:
        """Let the value or list under ``key`` expire ``ttl_seconds`` from now, as if written
        again (nothing happens when it is absent or expired)."""

    async def delete(self, *keys: str) -> None:
        """Delete values and lists (no error when absent)."""

    async def lock(self, name: str, owner: str, ttl_seconds: float) -> bool:
        """Take the lock ``name`` for ``owner`` unless another owner holds it; True if held now."""

    async def unlock(self, name: str, owner: str) -> None:
        """Release the lock if ``owner`` still holds it."""

    async def ping(self) -> None:
        """Raise when the state cannot be reached."""

    async def close(self) -> None:
        """Release connections."""


class MemoryLiveState:
    """Live state of one process, guarded by an asyncio lock; expiry on read."""

    def __init__(self) -> None:
        self._indexes: dict[str, dict[str, float]] = {}
        self._values: dict[str, tuple[float, str | list[str]]] = {}  # key -> (expires, value)
        self._guard = asyncio.Lock()

    async def index_add(self, index: str, member: str, score: float) -> None:
        async with self._guard:
            self._indexes.setdefault(index, {})[member] = score

    async def index_below(self, index: str, max_score: float, limit: int) -> list[str]:
        async with self._guard:
            entries = self._indexes.get(index, {})
            due = sorted((score, member) for member, score in entries.items() if score <= max_score)
        return [member for _, member in due[:limit]]

    async def index_remove(self, index: str, member: str) -> None:
        async with self._guard:
            self._indexes.get(index, {}).pop(member, None)

    async def index_claim(self, index: str, member: str, max_score: float) -> bool:
        async with self._guard:
            entries = self._indexes.get(index, {})
            if member not in entries or entries[member] > max_score:
                return False
            del entries[member]
            return True

    async def value_set(self, key: str, value: str, ttl_seconds: float) -> None:
        async with self._guard:
            self._values[key] = (time.monotonic() + ttl_seconds, value)

    async def value_get(self, key: str) -> str | None:
        async with self._guard:
            value = self._live(key)
        return value if isinstance(value, str) else None

    async def list_push(self, key: str, values: list[str], ttl_seconds: float) -> None:
        async with self._guard:
            current = self._live(key)
            items = (current if isinstance(current, list) else []) + list(values)
            self._values[key] = (time.monotonic() + ttl_seconds, items)

    async def list_take(self, key: str) -> list[str]:
        async with self._guard:
            value = self._live(key)
            self._values.pop(key, None)
        return value if isinstance(value, list) else []

    async def renew(self, key: str, ttl_seconds: float) -> None:
        async with self._guard:
            value = self._live(key)
            if value is not None:
                self._values[key] = (time.monotonic() + ttl_seconds, value)

    async def delete(self, *keys: str) -> None:
        async with self._guard:
            for key in keys:
                self._values.pop(key, None)

    async def lock(self, name: str, owner: str, ttl_seconds: float) -> bool:
        async with self._guard:
            holder = self._live(f"locks:{name}")
            if holder not in (None, owner):
                return False
            self._values[f"locks:{name}"] = (time.monotonic() + ttl_seconds, owner)
            return True

    async def unlock(self, name: str, owner: str) -> None:
        async with self._guard:
            if self._live(f"locks:{name}") == owner:
                del self._values[f"locks:{name}"]

    def _live(self, key: str) -> str | list[str] | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires <= time.monotonic():
            del self._values[key]
            return None
        return value

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


# Atomic compare-and-act scripts: Redis runs each as one step.
_CLAIM = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) <= tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
return 0
"""
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
_LOCK = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""


class RedisLiveState:
    """Live state in Redis, shared by every app instance; keys carry a prefix."""

    def __init__(self, redis: Redis, prefix: str = "helpline:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._claim = redis.register_script(_CLAIM)
        self._lock = redis.register_script(_LOCK)
        self._unlock = redis.register_script(_UNLOCK)

    @classmethod
    def from_url(cls, url: str, prefix: str = "helpline:") -> RedisLiveState:
        # Short timeouts: a Redis that does not answer must not hold up a reply to her.
        redis = Redis.from_url(
            url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2
        )
        return cls(redis, prefix)

    async def index_add(self, index: str, member: str, score: float) -> None:
        await self._redis.zadd(self._prefix + index, {member: score})

    async def index_below(self, index: str, max_score: float, limit: int) -> list[str]:
        return await self._redis.zrangebyscore(
            self._prefix + index, "-inf", max_score, start=0, num=limit
        )

    async def index_remove(self, index: str, member: str) -> None:
        await self._redis.zrem(self._prefix + index, member)

    async def index_claim(self, index: str, member: str, max_score: float) -> bool:
        return bool(await self._claim(keys=[self._prefix + index], args=[member, max_score]))

    async def value_set(self, key: str, value: str, ttl_seconds: float) -> None:
        await self._redis.set(self._prefix + key, value, px=_milliseconds(ttl_seconds))

    async def value_get(self, key: str) -> str | None:
        return await self._redis.get(self._prefix + key)

    async def list_push(self, key: str, values: list[str], ttl_seconds: float) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(self._prefix + key, *values)
            pipe.pexpire(self._prefix + key, _milliseconds(ttl_seconds))
            await pipe.execute()

    async def list_take(self, key: str) -> list[str]:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lrange(self._prefix + key, 0, -1)
            pipe.delete(self._prefix + key)
            values, _ = await pipe.execute()
        return values

    async def renew(self, key: str, ttl_seconds: float) -> None:
        await self._redis.pexpire(self._prefix + key, _milliseconds(ttl_seconds))

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._redis.delete(*(self._prefix + key for key in keys))

    async def lock(self, name: str, owner: str, ttl_seconds: float) -> bool:
        key = f"{self._prefix}locks:{name}"
        return bool(await self._lock(keys=[key], args=[owner, _milliseconds(ttl_seconds)]))

    async def unlock(self, name: str, owner: str) -> None:
        await self._unlock(keys=[f"{self._prefix}locks:{name}"], args=[owner])

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()


def _milliseconds(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def open_live_state(redis_url: str | None) -> LiveState:
    """Redis when a URL is configured, otherwise the in-process implementation."""
    return RedisLiveState.from_url(redis_url) if redis_url else MemoryLiveState()
