"""Equal-compute axes on metric rows; each run's numeric precision and determinism.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("metric") as batch:
        batch.add_column(sa.Column("examples_total", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("seconds_total", sa.Float(), nullable=True))
    with op.batch_alter_table("run") as batch:
        batch.add_column(sa.Column("precision", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("deterministic", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.drop_column("deterministic")
        batch.drop_column("precision")
    with op.batch_alter_table("metric") as batch:
        batch.drop_column("seconds_total")
        batch.drop_column("examples_total")
