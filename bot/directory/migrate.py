"""Bring a directory database to the newest schema with Alembic, without an ini file.

The migrations live next to the models (``bot/directory/migrations``) and are
located from this file, so ``upgrade`` works from any working directory and
from an installed package.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from bot.db import make_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# A version table of its own, so the directory's migrations can share a database.
VERSION_TABLE = "directory_alembic_version"


def alembic_config(url: str) -> Config:
    """Return an Alembic configuration for the database at ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = url
    return config


def upgrade(url: str) -> None:
    """Apply every migration not yet applied to the database at ``url``."""
    command.upgrade(alembic_config(url), "head")


def is_up_to_date(url: str) -> bool:
    """Whether the database at ``url`` has every migration (else import/export would fail)."""
    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
            return set(context.get_current_heads()) == heads
    finally:
        engine.dispose()
