"""Database engine and sessions (SQLAlchemy 2): SQLite by default, PostgreSQL in production."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import DeclarativeBase, sessionmaker


class Base(DeclarativeBase):
    """Base of every mapped class; Alembic reads its metadata."""


def make_engine(url: str) -> Engine:
    """Create the engine; for SQLite, create the folder, enforce foreign keys, use WAL."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        in_memory = engine.url.database in (None, "", ":memory:")
        event.listen(engine, "connect", _sqlite_pragmas if not in_memory else _sqlite_foreign_keys)
    return engine


def _sqlite_foreign_keys(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_pragmas(dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
    """Foreign keys, and write-ahead logging (WAL) for a file database.

    With WAL the app's and the action server's readers never wait for a writer
    (a need event, an import), nor a writer for them.
    """
    _sqlite_foreign_keys(dbapi_connection, record)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


def database_problem(engine: Engine) -> str | None:
    """Return why the database cannot be used, or None."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - any failure means "not ready"
        return type(error).__name__
    return None
