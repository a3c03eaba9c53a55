"""Directory tables: organisations, services and their details, audit log, need events.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 (generated with alembic revision --autogenerate)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "directory_audit_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("entity_external_id", sa.String(length=100), nullable=False),
        sa.Column(
            "action",
            sa.Enum("create", "update", "delete", name="auditaction", native_enum=False, length=40),
            nullable=False,
        ),
        sa.Column("changed_by", sa.String(length=200), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("directory_audit_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_directory_audit_entity", ["table_name", "entity_external_id"], unique=False
        )

    op.create_table(
        "directory_need_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "legal_aid",
                "psychosocial_support",
                "shelter",
                "medical",
                "police",
                "helpline",
                "egov_service",
                "economic_support",
                "online_violence_support",
                "social_services",
                name="category",
                native_enum=False,
                length=40,
            ),
            nullable=True,
        ),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("municipality", sa.String(length=200), nullable=True),
        sa.Column("place_id", sa.String(length=100), nullable=True),
        sa.Column("found", sa.Boolean(), nullable=False),
        sa.Column("result_count", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("directory_need_events", schema=None) as batch_op:
        batch_op.create_index("ix_directory_need_events_at", ["at"], unique=False)

    op.create_table(
        "directory_organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("external_id"),
    )
    op.create_table(
        "directory_services",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "legal_aid",
                "psychosocial_support",
                "shelter",
                "medical",
                "police",
                "helpline",
                "egov_service",
                "economic_support",
                "online_violence_support",
                "social_services",
                name="category",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("place_id", sa.String(length=100), nullable=True),
        sa.Column("municipality", sa.String(length=200), nullable=True),
        sa.Column("address", sa.String(length=500), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("remote", sa.Boolean(), nullable=False),
        sa.Column("free", sa.Boolean(), nullable=False),
        sa.Column("wheelchair", sa.Boolean(), nullable=False),
        sa.Column("sign_language", sa.Boolean(), nullable=False),
        sa.Column("interpretation", sa.Boolean(), nullable=False),
        sa.Column("always_open", sa.Boolean(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=True),
        sa.Column("last_verified", sa.Date(), nullable=True),
        sa.Column("verified_by", sa.String(length=200), nullable=True),
        sa.Column(
            "status",
            sa.Enum("active", "suspended", name="servicestatus", native_enum=False, length=40),
            nullable=False,
        ),
        sa.Column("demo", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["directory_organisations.id"], ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("external_id"),
    )
    with op.batch_alter_table("directory_services", schema=None) as batch_op:
        batch_op.create_index("ix_directory_services_lat_lon", ["lat", "lon"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_directory_services_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index("ix_directory_services_place_id", ["place_id"], unique=False)
        batch_op.create_index(
            "ix_directory_services_search", ["category", "status", "country"], unique=False
        )

    op.create_table(
        "directory_closed_days",
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["directory_services.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("service_id", "day"),
    )
    op.create_table(
        "directory_contact_points",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "phone",
                "website",
                "email",
                "messaging",
                name="contactkind",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("value", sa.String(length=500), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["service_id"], ["directory_services.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("directory_contact_points", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_directory_contact_points_service_id"), ["service_id"], unique=False
        )

    op.create_table(
        "directory_egov_procedures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("portal_url", sa.String(length=500), nullable=True),
        sa.Column("in_person_visit", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["directory_services.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("service_id"),
    )
    op.create_table(
        "directory_opening_hours",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.SmallInteger(), nullable=False),
        sa.Column("opens", sa.Time(), nullable=False),
        sa.Column("closes", sa.Time(), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["directory_services.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("directory_opening_hours", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_directory_opening_hours_service_id"), ["service_id"], unique=False
        )

    op.create_table(
        "directory_service_languages",
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=3), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["directory_services.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("service_id", "language"),
    )
    with op.batch_alter_table("directory_service_languages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_directory_service_languages_language"), ["language"], unique=False
        )

    op.create_table(
        "directory_service_target_groups",
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column(
            "target_group",
            sa.Enum(
                "roma_women",
                "women_with_disabilities",
                "lgbti",
                "rural_women",
                "minors",
                "migrants",
                "older_women",
                name="targetgroup",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["service_id"], ["directory_services.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("service_id", "target_group"),
    )
    with op.batch_alter_table("directory_service_target_groups", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_directory_service_target_groups_target_group"),
            ["target_group"],
            unique=False,
        )

    op.create_table(
        "directory_service_texts",
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("how_to_access", sa.Text(), nullable=True),
        sa.Column("what_to_bring", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["service_id"], ["directory_services.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("service_id", "language"),
    )
    op.create_table(
        "directory_egov_procedure_concerns",
        sa.Column("procedure_id", sa.Integer(), nullable=False),
        sa.Column(
            "concern",
            sa.Enum(
                "social_assistance",
                "child_allowance",
                "protection_order",
                "civil_status",
                "child_custody",
                "alimony",
                "divorce",
                "residence_registration",
                "identity_documents",
                "health_insurance",
                "employment",
                name="egovconcern",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["procedure_id"], ["directory_egov_procedures.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("procedure_id", "concern"),
    )
    with op.batch_alter_table("directory_egov_procedure_concerns", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_directory_egov_procedure_concerns_concern"), ["concern"], unique=False
        )

    op.create_table(
        "directory_egov_procedure_texts",
        sa.Column("procedure_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("steps", sa.Text(), nullable=False),
        sa.Column("documents", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["procedure_id"], ["directory_egov_procedures.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("procedure_id", "language"),
    )


def downgrade() -> None:
    op.drop_table("directory_egov_procedure_texts")
    with op.batch_alter_table("directory_egov_procedure_concerns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_directory_egov_procedure_concerns_concern"))

    op.drop_table("directory_egov_procedure_concerns")
    op.drop_table("directory_service_texts")
    with op.batch_alter_table("directory_service_target_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_directory_service_target_groups_target_group"))

    op.drop_table("directory_service_target_groups")
    with op.batch_alter_table("directory_service_languages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_directory_service_languages_language"))

    op.drop_table("directory_service_languages")
    with op.batch_alter_table("directory_opening_hours", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_directory_opening_hours_service_id"))

    op.drop_table("directory_opening_hours")
    op.drop_table("directory_egov_procedures")
    with op.batch_alter_table("directory_contact_points", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_directory_contact_points_service_id"))

    op.drop_table("directory_contact_points")
    op.drop_table("directory_closed_days")
    with op.batch_alter_table("directory_services", schema=None) as batch_op:
        batch_op.drop_index("ix_directory_services_search")
        batch_op.drop_index("ix_directory_services_place_id")
        batch_op.drop_index(batch_op.f("ix_directory_services_organisation_id"))
        batch_op.drop_index("ix_directory_services_lat_lon")

    op.drop_table("directory_services")
    op.drop_table("directory_organisations")
    with op.batch_alter_table("directory_need_events", schema=None) as batch_op:
        batch_op.drop_index("ix_directory_need_events_at")

    op.drop_table("directory_need_events")
    with op.batch_alter_table("directory_audit_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_directory_audit_entity")

    op.drop_table("directory_audit_entries")
