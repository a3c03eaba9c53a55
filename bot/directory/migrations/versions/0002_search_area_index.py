"""Index for the area search: category, status, country, remote, lat, lon, place.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ["category", "status", "country", "remote", "lat", "lon", "place_id"]


def upgrade() -> None:
    op.create_index("ix_directory_services_area", "directory_services", COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_directory_services_area", table_name="directory_services")
