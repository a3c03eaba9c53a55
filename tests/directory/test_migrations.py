"""The Alembic migrations build exactly the schema of the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from bot.db import Base, make_engine
from bot.directory.migrate import VERSION_TABLE, alembic_config, is_up_to_date, upgrade


def _directory_tables(url: str) -> set[str]:
    engine = make_engine(url)
    tables = {name for name in inspect(engine).get_table_names() if name.startswith("directory_")}
    engine.dispose()
    return tables


def test_upgrade_from_empty_builds_the_models_schema(empty_url: str) -> None:
    assert not is_up_to_date(empty_url)
    upgrade(empty_url)
    assert is_up_to_date(empty_url)
    expected = {name for name in Base.metadata.tables if name.startswith("directory_")}
    assert _directory_tables(empty_url) == expected | {VERSION_TABLE}

    engine = make_engine(empty_url)
    with engine.connect() as connection:
        options = {"compare_type": True, "version_table": VERSION_TABLE, "include_object": _ours}
        differences = compare_metadata(
            MigrationContext.configure(connection, opts=options), Base.metadata
        )
    engine.dispose()
    assert differences == []


def _ours(_object: object, name: str | None, type_: str, *_args: object) -> bool:
    """Other parts of the application may keep their tables in the same database."""
    return type_ != "table" or bool(name and name.startswith(("directory_", "handoff_")))


def test_upgrade_twice_is_harmless_and_downgrade_removes_everything(empty_url: str) -> None:
    upgrade(empty_url)
    upgrade(empty_url)
    command.downgrade(alembic_config(empty_url), "base")
    assert _directory_tables(empty_url) == {VERSION_TABLE}
    assert not is_up_to_date(empty_url)
