"""Directory tests run against SQLite and a real PostgreSQL database alike."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

import bot.directory.models  # noqa: F401 - registers the directory tables on Base
import bot.gateway.sql_queues  # noqa: F401 - and the gateway's queues, which its migrations create
from bot.db import Base, make_engine
from bot.directory.migrate import VERSION_TABLE, upgrade

# The tables the directory's migrations create (bot/directory/migrations/versions).
MIGRATED_TABLES = ("directory_", "gateway_queue_", "handoff_")


def _drop_directory(engine: Engine) -> None:
    """Leave the shared PostgreSQL database as empty as a fresh one for the next test."""
    tables = [t for t in Base.metadata.sorted_tables if t.name.startswith(MIGRATED_TABLES)]
    Base.metadata.drop_all(engine, tables=tables)
    with engine.begin() as connection:
        connection.execute(text(f"DROP TABLE IF EXISTS {VERSION_TABLE}"))


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def empty_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of an empty database, SQLite or PostgreSQL."""
    url = request.getfixturevalue(f"{request.param}_url")
    engine = make_engine(url)
    _drop_directory(engine)
    yield url
    _drop_directory(engine)
    engine.dispose()


@pytest.fixture
def db_url(empty_url: str) -> str:
    """URL of a database with the directory tables."""
    upgrade(empty_url)
    return empty_url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session
