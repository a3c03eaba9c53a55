"""Alembic environment of the directory database.

The URL comes from the caller (``bot.directory.migrate.upgrade`` puts it in
``config.attributes["url"]``) or else from the settings, so there is no URL in
any ini file. Only the directory's tables are compared, so autogenerate never
proposes to drop tables that belong to someone else in a shared database.
"""

from __future__ import annotations

from alembic import context

import bot.directory.models  # noqa: F401 - registers the tables on Base.metadata
import bot.handoff.records  # noqa: F401
from bot.db import Base, make_engine
from bot.directory.migrate import VERSION_TABLE
from bot.settings import get_settings

TABLE_PREFIX = "directory_"


def _include_object(obj, name, type_, reflected, compare_to) -> bool:  # type: ignore[no-untyped-def]
    if type_ == "table":
        return bool(name and name.startswith(TABLE_PREFIX))
    return True


def _url() -> str:
    return context.config.attributes.get("url") or get_settings().database_url


def _configure(**kwargs) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        include_object=_include_object,
        render_as_batch=True,  # SQLite can only ALTER tables by copying them
        compare_type=True,
        **kwargs,
    )


def run_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = make_engine(_url())
    with engine.connect() as connection:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
