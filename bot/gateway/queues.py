"""Per-conversation FIFO queues that several app instances share: the inbox and the outbox.

A queue holds one list of items per key (a conversation's pseudonym) and an
index of the keys that have work, scored by when they are due. A worker
*claims* a due key for a lease (nobody else takes it meanwhile), works through
its items head first (``peek``, then ``pop`` once the item is done), renews the
lease while it works, and ``release``s the key with a later due time to retry
it (backoff). Claims carry an owner token: a worker whose lease ran out cannot
pop what another worker now owns. A worker that dies simply lets its lease
expire: the key is due again and the item it was on is done again (at least
once; the conversation's order is kept).

``push`` can take a *once* key (set-if-absent with an expiry, in the same
atomic step as the push): a platform's retried delivery is accepted once, and
nothing is marked as seen that was not also queued.

Two implementations: ``RedisQueues`` here (Lua scripts, one atomic step each),
shared by every instance, and ``bot.gateway.sql_queues.SqlQueues`` in the
directory's database (SQLite on the embedded default), which survives the
process. Items are opaque strings: the gateway seals them before they are pushed.
"""

from __future__ import annotations

import time
from typing import Protocol

from redis.asyncio import Redis


class Queues(Protocol):
    """Keyed FIFO queues with leases; every operation atomic."""

    name: str

    async def push(self, key: str, item: str, ttl_seconds: float,
                   once: str | None = None, once_ttl_seconds: float = 0) -> bool:
        """Append ``item`` to ``key``'s queue; False (nothing pushed) if ``once`` was seen.

        The key is due now unless a worker holds it (a key waiting out a backoff
        is due again: she wrote, so try now). Its items expire ``ttl_seconds``
        after the last push.
        """

    async def claim(self, owner: str, lease_seconds: float) -> str | None:
        """Take the earliest due key that nobody holds, for ``lease_seconds``; None if none is due."""

    async def renew(self, key: str, owner: str, lease_seconds: float) -> bool:
        """Extend the lease; False when ``owner`` no longer holds ``key``."""

    async def peek(self, key: str) -> str | None:
        """The head item of ``key`` (None when its queue is empty)."""

    async def items(self, key: str) -> list[str]:
        """Every item of ``key``, head first."""

    async def replace(self, key: str, owner: str, index: int, item: str) -> bool:
        """Replace the item at ``index`` (0: the head; its attempt count, say); False when
        not the owner or there is no such item."""

    async def pop(self, key: str, owner: str) -> bool:
        """Remove the head item; when the queue is empty, the key is released. Returns
        whether items are left (False also when ``owner`` no longer holds ``key``)."""

    async def release(self, key: str, owner: str, due_in_seconds: float, seen: int | None = None) -> None:
        """Give the key back, due again after ``due_in_seconds``.

        With ``seen`` (how many items the owner last looked at), a key that got more
        items meanwhile is due now: she wrote while it was held, and a push to a held
        key does not make it due (so her new message would wait out the backoff).
        """

    async def pending(self) -> int:
        """How many keys have work (for /health and the benchmark)."""

    async def forget(self, key: str) -> None:
        """Drop the key's queue (a chat that is gone)."""

    async def close(self) -> None:
        """Release connections."""


# ----------------------------------------------------------------------- redis

# KEYS: items, due index, owners hash, [once]; ARGV: key, item, ttl ms, now ms, [once ttl ms]
_PUSH = """
if KEYS[4] and redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[5]) == false then
  return 0
end
redis.call('RPUSH', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 0 then
  redis.call('ZADD', KEYS[2], 'LT', ARGV[4], ARGV[1])
end
return 1
"""
# KEYS: due index, owners hash; ARGV: now ms, lease ms, owner, items prefix
# Skips (and drops) keys whose items expired.
_CLAIM = """
for i = 1, 20 do
  local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1)
  if #due == 0 then return false end
  local key = due[1]
  if redis.call('EXISTS', ARGV[4] .. key) == 1 then
    redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), key)
    redis.call('HSET', KEYS[2], key, ARGV[3])
    return key
  end
  redis.call('ZREM', KEYS[1], key)
  redis.call('HDEL', KEYS[2], key)
end
return false
"""
# KEYS: due index, owners hash; ARGV: key, owner, new due ms
_RENEW = """
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
return 1
"""
# KEYS: due index, owners hash, items; ARGV: key, owner, new due ms, now ms, seen (-1: any)
_RELEASE = """
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
local due = ARGV[3]
if tonumber(ARGV[5]) >= 0 and redis.call('LLEN', KEYS[3]) > tonumber(ARGV[5]) then due = ARGV[4] end
redis.call('ZADD', KEYS[1], 'XX', due, ARGV[1])
return 1
"""
# KEYS: due index, owners hash, items; ARGV: key, owner
_POP = """
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return -1 end
redis.call('LPOP', KEYS[3])
local left = redis.call('LLEN', KEYS[3])
if left == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return left
"""
# KEYS: owners hash, items; ARGV: key, owner, index, item
_REPLACE = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
if redis.call('LLEN', KEYS[2]) <= tonumber(ARGV[3]) then return 0 end
redis.call('LSET', KEYS[2], ARGV[3], ARGV[4])
return 1
"""


class RedisQueues:
    """The queues in Redis, shared by every instance: ``<prefix><name>:…`` keys."""

    def __init__(self, redis: Redis, name: str, prefix: str = "helpline:") -> None:
        self.name = name
        self._redis = redis
        base = f"{prefix}{name}:"
        self._due, self._owners, self._items, self._once = (
            base + "due", base + "owners", base + "items:", base + "once:"
        )
        self._push = redis.register_script(_PUSH)
        self._claim = redis.register_script(_CLAIM)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._pop = redis.register_script(_POP)
        self._replace = redis.register_script(_REPLACE)

    async def push(self, key: str, item: str, ttl_seconds: float,
                   once: str | None = None, once_ttl_seconds: float = 0) -> bool:
        keys = [self._items + key, self._due, self._owners]
        args: list[object] = [key, item, _ms(ttl_seconds), _now_ms()]
        if once is not None:
            keys.append(self._once + once)
            args.append(_ms(once_ttl_seconds))
        return bool(await self._push(keys=keys, args=args))

    async def claim(self, owner: str, lease_seconds: float) -> str | None:
        key = await self._claim(
            keys=[self._due, self._owners], args=[_now_ms(), _ms(lease_seconds), owner, self._items]
        )
        return key.decode() if isinstance(key, bytes) else key

    async def renew(self, key: str, owner: str, lease_seconds: float) -> bool:
        return bool(await self._renew(
            keys=[self._due, self._owners], args=[key, owner, _now_ms() + _ms(lease_seconds)]
        ))

    async def peek(self, key: str) -> str | None:
        item = await self._redis.lindex(self._items + key, 0)
        return item.decode() if isinstance(item, bytes) else item

    async def items(self, key: str) -> list[str]:
        return list(await self._redis.lrange(self._items + key, 0, -1))

    async def replace(self, key: str, owner: str, index: int, item: str) -> bool:
        return bool(await self._replace(keys=[self._owners, self._items + key], args=[key, owner, index, item]))

    async def pop(self, key: str, owner: str) -> bool:
        left = await self._pop(keys=[self._due, self._owners, self._items + key], args=[key, owner])
        return int(left) > 0

    async def release(self, key: str, owner: str, due_in_seconds: float, seen: int | None = None) -> None:
        now = _now_ms()
        await self._release(
            keys=[self._due, self._owners, self._items + key],
            args=[key, owner, now + _ms(due_in_seconds), now, -1 if seen is None else seen],
        )

    async def pending(self) -> int:
        return int(await self._redis.zcard(self._due))

    async def forget(self, key: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._items + key)
            pipe.zrem(self._due, key)
            pipe.hdel(self._owners, key)
            await pipe.execute()

    async def close(self) -> None:
        await self._redis.aclose()


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _now_ms() -> int:
    return int(time.time() * 1000)
