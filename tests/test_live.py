"""Both live-state implementations behave the same: in-process and real Redis."""

from __future__ import annotations

import asyncio


async def test_index_orders_by_score_and_updates_members(live):
    await live.index_add("seen", "b", 20)
    await live.index_add("seen", "a", 10)
    await live.index_add("seen", "c", 30)
    await live.index_add("seen", "c", 5)  # touched again: new score
    assert await live.index_below("seen", 20, limit=10) == ["c", "a", "b"]
    assert await live.index_below("seen", 15, limit=1) == ["c"]
    await live.index_remove("seen", "a")
    await live.index_remove("seen", "missing")
    assert await live.index_below("seen", 100, limit=10) == ["c", "b"]
    assert await live.index_below("other", 100, limit=10) == []
    await live.ping()


async def test_claim_removes_only_an_entry_that_is_still_due(live):
    await live.index_add("seen", "a", 10)
    assert await live.index_claim("seen", "a", max_score=20)
    assert not await live.index_claim("seen", "a", max_score=20)  # gone
    await live.index_add("seen", "b", 30)  # renewed by a new message
    assert not await live.index_claim("seen", "b", max_score=20)
    assert await live.index_below("seen", 100, limit=10) == ["b"]


async def test_values_and_lists_expire_and_are_deleted(live):
    await live.value_set("v", "one", ttl_seconds=0.2)
    assert await live.value_get("v") == "one"
    await live.list_push("l", ["a", "b"], ttl_seconds=0.2)
    await live.list_push("l", ["c"], ttl_seconds=0.2)
    assert await live.list_take("l") == ["a", "b", "c"]
    assert await live.list_take("l") == []
    await live.list_push("l", ["d"], ttl_seconds=0.2)
    await asyncio.sleep(0.3)
    assert await live.value_get("v") is None
    assert await live.list_take("l") == []
    await live.value_set("v", "two", ttl_seconds=10)
    await live.delete("v", "missing")
    assert await live.value_get("v") is None


async def test_values_and_lists_are_renewed_as_if_written_again(live):
    await live.value_set("v", "one", ttl_seconds=0.3)
    await live.list_push("l", ["a"], ttl_seconds=0.3)
    await asyncio.sleep(0.2)
    await live.renew("v", ttl_seconds=0.4)
    await live.renew("l", ttl_seconds=0.4)
    await live.renew("missing", ttl_seconds=10)  # nothing to renew: nothing is made
    await asyncio.sleep(0.2)  # past the first expiry
    assert await live.value_get("v") == "one"
    assert await live.list_take("l") == ["a"]
    assert await live.value_get("missing") is None
    await asyncio.sleep(0.3)
    assert await live.value_get("v") is None
    await live.renew("v", ttl_seconds=10)  # expired: not brought back
    assert await live.value_get("v") is None


async def test_a_lock_has_one_owner_until_it_expires(live):
    assert await live.lock("sweep", "a", ttl_seconds=0.2)
    assert await live.lock("sweep", "a", ttl_seconds=0.2)  # the owner renews it
    assert not await live.lock("sweep", "b", ttl_seconds=0.2)
    await live.unlock("sweep", "b")  # not the owner: no effect
    assert not await live.lock("sweep", "b", ttl_seconds=0.2)
    await asyncio.sleep(0.3)
    assert await live.lock("sweep", "b", ttl_seconds=5)
    await live.unlock("sweep", "b")
    assert await live.lock("sweep", "a", ttl_seconds=5)
