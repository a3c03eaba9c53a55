"""The gateway's inbox and outbox when there is no Redis (bot.gateway.sql_queues).

They live in the directory's database, the one durable store of the embedded
default, so the messages accepted from the platforms survive a restart.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gateway_queue_keys",
        sa.Column("queue", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("due_at", sa.Double(), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=True),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("queue", "key"),
    )
    op.create_index("ix_gateway_queue_keys_due", "gateway_queue_keys", ["queue", "due_at"])
    op.create_index("ix_gateway_queue_keys_expiry", "gateway_queue_keys", ["queue", "expires_at"])
    op.create_table(
        "gateway_queue_items",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True, nullable=False,
        ),
        sa.Column("queue", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["queue", "key"], ["gateway_queue_keys.queue", "gateway_queue_keys.key"]
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_gateway_queue_items_key", "gateway_queue_items", ["queue", "key", "id"])
    op.create_table(
        "gateway_queue_once",
        sa.Column("queue", sa.String(length=32), nullable=False),
        sa.Column("mark", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("queue", "mark"),
    )
    op.create_index("ix_gateway_queue_once_expiry", "gateway_queue_once", ["queue", "expires_at"])


def downgrade() -> None:
    op.drop_table("gateway_queue_once")
    op.drop_table("gateway_queue_items")
    op.drop_table("gateway_queue_keys")
