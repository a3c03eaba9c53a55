"""Shared fixtures: real PostgreSQL and Redis on loopback, SQLite in a temp folder.

A test that needs PostgreSQL or Redis is skipped when the server is missing,
unless ``REQUIRE_SERVICES=1`` (set by ``.ci/run``), which makes it a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import create_engine, text

from bot.live import MemoryLiveState, RedisLiveState
from tests.stack import Stack, start_stack

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def _unavailable(service: str, error: Exception) -> None:
    message = f"{service} unavailable: {type(error).__name__}: {error}"
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database, dropped at the end of the run."""
    yield from _fresh_postgres()


@pytest.fixture(scope="module")
def module_postgres_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database of one module (a running stack's)."""
    yield from _fresh_postgres()


def _fresh_postgres() -> Iterator[str]:
    name = f"helpline_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # noqa: BLE001
        _unavailable("PostgreSQL", error)
    yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'helpline.db'}"


def _empty_redis(url: str) -> Iterator[str]:
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    except Exception as error:  # noqa: BLE001
        _unavailable("Redis", error)
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """URL of a Redis database emptied before and after the test."""
    yield from _empty_redis(REDIS_TEST_URL)


@pytest.fixture(scope="module")
def module_redis_url() -> Iterator[str]:
    """URL of another Redis database, emptied before and after a module (a running stack's)."""
    yield from _empty_redis(REDIS_TEST_URL.rsplit("/", 1)[0] + "/14")


@pytest.fixture(params=["memory", "redis"])
async def live(request):
    """Each live-state implementation: in-process, and real Redis."""
    if request.param == "memory":
        state = MemoryLiveState()
    else:
        state = RedisLiveState.from_url(request.getfixturevalue("redis_url"), prefix="test:")
    yield state
    await state.close()


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Iterator[Stack]:
    """The real Rasa server with the trained model, and the action server."""
    folder = tmp_path_factory.mktemp("stack")
    running = start_stack(folder, database_url=f"sqlite:///{folder / 'directory.db'}")
    yield running
    running.stop()
