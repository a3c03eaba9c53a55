"""The gateway's queues keep one contract on every store: in-process, Redis, SQLite, PostgreSQL.

The same tests run against each implementation of ``bot.gateway.queues.Queues``:
order, the once mark, exclusive claims and leases, what a stale owner may no
longer do, release and backoff, expiry, forget. Then what only the database
queues promise: an accepted item survives the process being killed, two
instances on one database never share a key, the migration builds the models'
schema, and expired rows are deleted.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, delete, func, select

from bot.db import Base, make_engine
from bot.directory.migrate import VERSION_TABLE, upgrade
from bot.gateway.queues import Queues, RedisQueues
from bot.gateway.sql_queues import OnceMark, QueueItem, QueueKey, SqlQueues

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TTL = 60.0
LEASE = 30.0
SHORT = 0.4  # a lease, delay or expiry that a test waits out
WAIT = SHORT + 0.2
TABLES = (QueueItem, QueueKey, OnceMark)  # children first, for deleting rows

IMPLEMENTATIONS = [
    pytest.param("redis", marks=pytest.mark.redis),
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
]
DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _empty(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in TABLES:
            connection.execute(delete(table))


@contextmanager
def _migrated(url: str) -> Iterator[Engine]:
    """An engine on the database at ``url``, migrated, with no queue rows before or after."""
    upgrade(url)
    engine = make_engine(url)
    _empty(engine)
    try:
        yield engine
    finally:
        _empty(engine)
        engine.dispose()


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A migrated database: SQLite in a temp folder, or the run's PostgreSQL."""
    url = request.getfixturevalue(f"{request.param}_url")
    with _migrated(url):
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(params=IMPLEMENTATIONS)
async def queues(request: pytest.FixtureRequest) -> AsyncIterator[Queues]:
    """An inbox on each store."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        queues = RedisQueues(aioredis.Redis.from_url(url, decode_responses=True), "inbox")
        yield queues
        await queues.close()
    else:
        with _migrated(request.getfixturevalue(f"{request.param}_url")) as engine:
            yield SqlQueues(engine, "inbox")


async def _drain(queues: Queues, key: str, owner: str) -> list[str]:
    """Every item of ``key``, head first, popped by its owner."""
    items: list[str] = []
    while (item := await queues.peek(key)) is not None:
        items.append(item)
        if not await queues.pop(key, owner):
            break
    return items


# ------------------------------------------------------------ every store


async def test_items_come_out_in_the_order_they_were_pushed(queues: Queues) -> None:
    for item in ("first", "second", "third"):
        assert await queues.push("her", item, TTL)
    assert await queues.claim("worker", LEASE) == "her"
    assert await _drain(queues, "her", "worker") == ["first", "second", "third"]


async def test_a_delivery_marked_once_is_queued_once(queues: Queues) -> None:
    assert await queues.push("her", "hello", TTL, once="update-1", once_ttl_seconds=SHORT)
    assert not await queues.push("her", "hello", TTL, once="update-1", once_ttl_seconds=SHORT)
    assert not await queues.push("other", "hello", TTL, once="update-1", once_ttl_seconds=SHORT)
    assert await queues.push("her", "next", TTL, once="update-2", once_ttl_seconds=SHORT)
    assert await queues.pending() == 1
    assert await queues.claim("worker", LEASE) == "her"
    assert await _drain(queues, "her", "worker") == ["hello", "next"]

    await asyncio.sleep(WAIT)  # the mark expired: the same id is a new delivery
    assert await queues.push("her", "again", TTL, once="update-1", once_ttl_seconds=SHORT)


async def test_the_earliest_due_key_is_claimed_first(queues: Queues) -> None:
    await queues.push("z-pushed-first", "a", TTL)
    await asyncio.sleep(0.02)
    await queues.push("a-pushed-second", "b", TTL)
    assert await queues.claim("one", LEASE) == "z-pushed-first"
    assert await queues.claim("two", LEASE) == "a-pushed-second"
    assert await queues.claim("three", LEASE) is None


async def test_a_claimed_key_is_nobody_elses(queues: Queues) -> None:
    await queues.push("her", "a", TTL)
    await queues.push("her", "b", TTL)
    assert await queues.claim("one", LEASE) == "her"
    assert await queues.claim("two", LEASE) is None
    assert await queues.pop("her", "one")  # items are left: she is still held
    assert await queues.claim("two", LEASE) is None
    assert not await queues.pop("her", "two")
    assert await queues.peek("her") == "b"


async def test_concurrent_claims_give_each_key_to_one_owner(queues: Queues) -> None:
    keys = {f"conversation-{number}" for number in range(12)}
    for key in sorted(keys):
        await queues.push(key, "item", TTL)
    claimed = await asyncio.gather(*(queues.claim(f"worker-{n}", LEASE) for n in range(30)))
    won = [key for key in claimed if key is not None]
    assert sorted(won) == sorted(keys)  # every key once, none twice


async def test_an_expired_lease_passes_the_key_on_and_locks_the_stale_owner_out(
    queues: Queues,
) -> None:
    await queues.push("her", "a", TTL)
    await queues.push("her", "b", TTL)
    assert await queues.claim("stale", SHORT) == "her"
    assert await queues.claim("new", LEASE) is None
    await asyncio.sleep(WAIT)
    assert await queues.claim("new", LEASE) == "her"

    assert not await queues.renew("her", "stale", LEASE)
    assert not await queues.replace("her", "stale", 0, "overwritten")
    assert not await queues.pop("her", "stale")
    await queues.release("her", "stale", 0)
    assert await queues.claim("third", LEASE) is None  # still the new owner's
    assert await _drain(queues, "her", "new") == ["a", "b"]


async def test_renewing_keeps_the_lease(queues: Queues) -> None:
    await queues.push("her", "a", TTL)
    assert await queues.claim("one", SHORT) == "her"
    assert await queues.renew("her", "one", LEASE)
    await asyncio.sleep(WAIT)
    assert await queues.claim("two", LEASE) is None
    assert await queues.renew("her", "one", LEASE)


async def test_replacing_the_head_keeps_its_place(queues: Queues) -> None:
    await queues.push("her", "attempt 0", TTL)
    await queues.push("her", "later", TTL)
    assert await queues.claim("one", LEASE) == "her"
    assert await queues.replace("her", "one", 0, "attempt 1")
    assert await _drain(queues, "her", "one") == ["attempt 1", "later"]
    assert not await queues.replace("her", "one", 0, "nothing to replace")


async def test_items_are_listed_and_replaced_in_place(queues: Queues) -> None:
    for item in ("a", "b", "c"):
        await queues.push("her", item, TTL)
    assert await queues.claim("one", LEASE) == "her"
    assert await queues.replace("her", "one", 2, "c, fallback given")
    assert not await queues.replace("her", "one", 3, "no such item")
    assert not await queues.replace("her", "stale", 1, "not the owner")
    assert await queues.items("her") == ["a", "b", "c, fallback given"]


async def test_she_writes_again_and_a_key_waiting_out_a_backoff_is_due_at_once(queues: Queues) -> None:
    await queues.push("her", "first", TTL)
    assert await queues.claim("one", LEASE) == "her"
    await queues.release("her", "one", 60)  # the assistant is down: retry in a minute
    assert await queues.claim("two", LEASE) is None
    await queues.push("her", "second", TTL)
    assert await queues.claim("two", LEASE) == "her"
    await queues.push("her", "third", TTL)  # a worker holds it: nobody else may take it
    assert await queues.claim("three", LEASE) is None


async def test_a_message_pushed_while_the_key_was_held_does_not_wait_out_its_backoff(queues: Queues) -> None:
    await queues.push("her", "first", TTL)
    assert await queues.claim("one", LEASE) == "her"
    seen = len(await queues.items("her"))
    await queues.push("her", "he is here", TTL)  # while held: the push cannot make it due
    await queues.release("her", "one", 60, seen=seen)
    assert await queues.claim("two", LEASE) == "her"  # due now, not in a minute
    await queues.release("her", "two", 60, seen=len(await queues.items("her")))
    assert await queues.claim("three", LEASE) is None  # nothing new: the backoff holds


async def test_popping_the_last_item_releases_the_key(queues: Queues) -> None:
    await queues.push("her", "a", TTL)
    assert await queues.claim("one", LEASE) == "her"
    assert not await queues.pop("her", "one")
    assert await queues.pending() == 0
    assert await queues.peek("her") is None
    assert not await queues.renew("her", "one", LEASE)

    await queues.push("her", "b", TTL)  # new work is due at once, for anyone
    assert await queues.claim("two", LEASE) == "her"
    assert await queues.peek("her") == "b"


async def test_a_released_key_is_due_again_after_its_delay(queues: Queues) -> None:
    await queues.push("her", "a", TTL)
    assert await queues.claim("one", LEASE) == "her"
    await queues.release("her", "one", SHORT)
    assert not await queues.pop("her", "one")  # released: no longer hers to pop
    assert await queues.claim("two", LEASE) is None
    assert await queues.peek("her") == "a"
    await asyncio.sleep(WAIT)
    assert await queues.claim("two", LEASE) == "her"
    assert await queues.peek("her") == "a"


async def test_items_expire_their_ttl_after_the_last_push(queues: Queues) -> None:
    await queues.push("her", "old", SHORT)
    await queues.push("kept", "a", SHORT)
    await queues.push("kept", "b", TTL)  # pushing again extends the key's items
    await asyncio.sleep(WAIT)
    assert await queues.claim("one", LEASE) == "kept"
    assert await queues.claim("two", LEASE) is None  # "her" expired
    assert await queues.pending() == 1  # (Redis counts an expired key until a claim drops it)

    await queues.push("her", "new", TTL)  # starts afresh, without the expired item
    assert await queues.claim("two", LEASE) == "her"
    assert await _drain(queues, "her", "two") == ["new"]


async def test_forget_drops_the_queue_but_not_the_once_marks(queues: Queues) -> None:
    await queues.push("her", "a", TTL, once="update-1", once_ttl_seconds=TTL)
    await queues.push("her", "b", TTL)
    assert await queues.claim("one", LEASE) == "her"
    await queues.forget("her")
    assert await queues.peek("her") is None
    assert await queues.pending() == 0
    assert not await queues.pop("her", "one")
    assert await queues.claim("two", LEASE) is None
    assert not await queues.push("her", "a", TTL, once="update-1", once_ttl_seconds=TTL)
    await queues.forget("never-seen")


async def test_pending_counts_the_keys_with_work(queues: Queues) -> None:
    assert await queues.pending() == 0
    await queues.push("one", "a", TTL)
    await queues.push("one", "b", TTL)
    await queues.push("two", "c", TTL)
    assert await queues.pending() == 2
    assert await queues.claim("worker", LEASE) == "one"
    assert await queues.pending() == 2  # being worked on is still work
    await _drain(queues, "one", "worker")
    assert await queues.pending() == 1


# ------------------------------------------------------- the database only

_PUSH_THEN_HANG = """
import asyncio, sys, time
from bot.db import make_engine
from bot.gateway.sql_queues import SqlQueues

async def main():
    queues = SqlQueues(make_engine(sys.argv[1]), "inbox")
    await queues.push("her", "accepted before the kill", 60, once="update-1", once_ttl_seconds=60)
    print("accepted", flush=True)
    time.sleep(60)

asyncio.run(main())
"""


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_accepted_item_survives_the_process_being_killed(database_url: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", _PUSH_THEN_HANG, database_url],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "accepted"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()

    engine = make_engine(database_url)  # the restarted app
    restarted = SqlQueues(engine, "inbox")
    try:
        assert await restarted.claim("after-restart", LEASE) == "her"
        assert await restarted.peek("her") == "accepted before the kill"
        assert not await restarted.push("her", "the platform's retry", TTL,
                                        once="update-1", once_ttl_seconds=TTL)
    finally:
        engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_dead_workers_conversation_is_taken_up_after_restart(database_url: str) -> None:
    engine = make_engine(database_url)
    before = SqlQueues(engine, "inbox")
    await before.push("was-working", "half done", TTL)
    assert await before.claim("dead-worker", SHORT) == "was-working"
    await before.push("waiting", "not started", TTL)
    engine.dispose()

    engine = make_engine(database_url)
    after = SqlQueues(engine, "inbox")
    try:
        assert await after.claim("new-worker", LEASE) == "waiting"
        assert await after.claim("new-worker", LEASE) is None  # the dead worker's lease runs
        await asyncio.sleep(WAIT)
        assert await after.claim("new-worker", LEASE) == "was-working"
        assert await _drain(after, "was-working", "new-worker") == ["half done"]
    finally:
        engine.dispose()


@pytest.mark.parametrize("database_url", DATABASES, indirect=True)
async def test_two_instances_on_one_database_never_share_a_key(database_url: str) -> None:
    engines = [make_engine(database_url), make_engine(database_url)]
    instances = [SqlQueues(engine, "inbox") for engine in engines]
    try:
        keys = {f"conversation-{number}" for number in range(10)}
        for number, key in enumerate(sorted(keys)):
            await instances[number % 2].push(key, "item", TTL)
        claims = [instances[n % 2].claim(f"worker-{n}", LEASE) for n in range(24)]
        won = [key for key in await asyncio.gather(*claims) if key is not None]
        assert sorted(won) == sorted(keys)
    finally:
        for engine in engines:
            engine.dispose()


@pytest.mark.parametrize("database_url", DATABASES, indirect=True)
async def test_queues_are_separate_by_name(engine: Engine) -> None:
    inbox, outbox = SqlQueues(engine, "inbox"), SqlQueues(engine, "outbox")
    await inbox.push("her", "message", TTL, once="id", once_ttl_seconds=TTL)
    assert await outbox.push("her", "reply", TTL, once="id", once_ttl_seconds=TTL)
    assert await outbox.claim("worker", LEASE) == "her"
    assert await _drain(outbox, "her", "worker") == ["reply"]
    assert await inbox.peek("her") == "message"


@pytest.mark.parametrize("database_url", DATABASES, indirect=True)
async def test_expired_rows_are_deleted(engine: Engine) -> None:
    queues = SqlQueues(engine, "inbox")
    await queues.push("gone", "a", SHORT, once="update-1", once_ttl_seconds=SHORT)
    await queues.push("gone", "b", SHORT)
    await queues.push("kept", "c", TTL, once="update-2", once_ttl_seconds=TTL)
    await asyncio.sleep(WAIT)
    await SqlQueues(engine, "inbox").claim("worker", LEASE)  # a new instance purges at once
    with engine.connect() as connection:
        counts = [connection.scalar(select(func.count()).select_from(t)) for t in TABLES]
    assert counts == [1, 1, 1]


@pytest.mark.parametrize("database_url", DATABASES, indirect=True)
def test_the_migration_builds_the_models_schema(engine: Engine) -> None:
    options = {
        "compare_type": True, "version_table": VERSION_TABLE, "include_object": _queue_tables,
    }
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts=options)
        assert compare_metadata(context, Base.metadata) == []


def _queue_tables(_object: object, name: str | None, type_: str, *_args: object) -> bool:
    return type_ != "table" or bool(name and name.startswith("gateway_queue_"))
