"""Both live-state implementations behave the same: in-process and real Redis."""

from __future__ import annotations

import pytest

from bot.live import MemoryLiveState, RedisLiveState


@pytest.fixture(params=["memory", "redis"])
async def live(request):
    if request.param == "memory":
        state = MemoryLiveState()
    else:
        state = RedisLiveState.from_url(request.getfixturevalue("redis_url"), prefix="test:")
    yield state
    await state.close()


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
