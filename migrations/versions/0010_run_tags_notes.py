"""Run tags and notes: what users write on one run (curation; never part of the statistics).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("run") as batch:
        # The server default fills the rows that exist; new rows get [] from the model too.
        batch.add_column(
            sa.Column("tags", JSON, nullable=False, server_default=sa.text("'[]'"))
        )
        batch.add_column(sa.Column("notes", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.drop_column("notes")
        batch.drop_column("tags")
