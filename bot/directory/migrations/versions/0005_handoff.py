"""Counsellor handoff: counsellors, handoff records, the sealed transcript, blocks, audit
(bot.handoff.records).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "handoff_counsellors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("display_name", sa.String(80), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=True, unique=True),
        sa.Column("login", sa.String(80), nullable=True, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("max_chats", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "handoff_records",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("sender_id", sa.String(64), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("requested_at", _WHEN, nullable=False),
        sa.Column("taken_at", _WHEN, nullable=True),
        sa.Column("ended_at", _WHEN, nullable=True),
        sa.Column("counsellor_id", sa.Integer(), sa.ForeignKey("handoff_counsellors.id", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("feedback", sa.SmallInteger(), nullable=True),
        sa.Column("transfers", sa.SmallInteger(), nullable=False, server_default="0"),
        sa.Column("timeouts", sa.SmallInteger(), nullable=False, server_default="0"),
        sa.Column("left_message", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_handoff_records_sender", "handoff_records", ["sender_id"])
    op.create_index("ix_handoff_records_requested", "handoff_records", ["requested_at"])
    op.create_table(
        "handoff_transcript",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("handoff_id", sa.String(32), sa.ForeignKey("handoff_records.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("author", sa.String(16), nullable=False),
        sa.Column("counsellor_id", sa.Integer(), sa.ForeignKey("handoff_counsellors.id", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_handoff_transcript_handoff", "handoff_transcript", ["handoff_id", "id"])
    op.create_index("ix_handoff_transcript_at", "handoff_transcript", ["at"])
    op.create_table(
        "handoff_blocked_senders",
        sa.Column("sender_id", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("until", _WHEN, nullable=False),
        sa.Column("blocked_by", sa.Integer(), sa.ForeignKey("handoff_counsellors.id", ondelete="SET NULL"), nullable=True),
        sa.Column("at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("sender_id"),
    )
    op.create_table(
        "handoff_audit",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("actor_id", sa.Integer(), sa.ForeignKey("handoff_counsellors.id", ondelete="SET NULL"), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("handoff_id", sa.String(32), nullable=True),
        sa.Column("detail", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_handoff_audit_handoff", "handoff_audit", ["handoff_id", "actor_id"])


def downgrade() -> None:
    op.drop_table("handoff_audit")
    op.drop_table("handoff_blocked_senders")
    op.drop_table("handoff_transcript")
    op.drop_table("handoff_records")
    op.drop_table("handoff_counsellors")
