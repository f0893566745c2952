"""Run exclusions: a run left out of the statistics, with why, by whom and when.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.add_column(sa.Column("excluded_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("excluded_by", sa.String(255), nullable=True))
        batch.add_column(sa.Column("excluded_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.drop_column("excluded_at")
        batch.drop_column("excluded_by")
        batch.drop_column("excluded_reason")
