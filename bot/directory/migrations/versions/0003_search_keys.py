"""Folded search keys of the services' texts, so free-text search matches in SQL.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.directory.search_keys import keys_of

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 5_000


def upgrade() -> None:
    key_type = sa.String(length=5).with_variant(sa.String(length=5, collation="C"), "postgresql")
    keys = op.create_table(
        "directory_search_keys",
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("key", key_type, nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["directory_services.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("service_id", "key"),
    )
    op.create_index("ix_directory_search_keys_key", "directory_search_keys", ["key", "service_id"])
    if op.get_bind().dialect.name == "postgresql":
        # Keys are many and skewed ("zene" is everywhere, "strehe" is rare): finer
        # statistics let the planner see how many services a prefix matches.
        op.execute("ALTER TABLE directory_search_keys ALTER COLUMN key SET STATISTICS 1000")
    _index_existing_services(keys)


def _index_existing_services(keys: sa.Table) -> None:
    """Keys for the services already in the directory, as the importer writes them."""
    texts: dict[int, list[str]] = defaultdict(list)
    statement = sa.text(
        "SELECT s.id, o.name, t.name, t.description FROM directory_services s"
        " JOIN directory_organisations o ON o.id = s.organisation_id"
        " LEFT JOIN directory_service_texts t ON t.service_id = s.id"
    )
    for service_id, organisation, name, description in op.get_bind().execute(statement):
        texts[service_id] += [organisation, name, description]
    rows = [
        {"service_id": service_id, "key": key}
        for service_id, parts in texts.items()
        for key in sorted(keys_of(parts))
    ]
    for start in range(0, len(rows), CHUNK):
        op.bulk_insert(keys, rows[start : start + CHUNK])


def downgrade() -> None:
    op.drop_index("ix_directory_search_keys_key", table_name="directory_search_keys")
    op.drop_table("directory_search_keys")
