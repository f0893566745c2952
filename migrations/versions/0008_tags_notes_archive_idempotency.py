"""Experiment tags, notes and archiving; the idempotency_key table of POST /experiments, /sweeps.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("experiment") as batch:
        batch.add_column(
            sa.Column("tags", JSON, nullable=False, server_default=sa.text("'[]'"))
        )
        batch.add_column(sa.Column("notes", sa.Text(), nullable=True))
        batch.add_column(sa.Column("archived_at", TIME, nullable=True))
        batch.create_index(op.f("ix_experiment_archived_at"), ["archived_at"])
    op.create_table(
        "idempotency_key",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", JSON, nullable=False),
        sa.Column("location", sa.String(length=300), nullable=True),
        sa.Column("created", TIME, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_idempotency_key")),
    )


def downgrade() -> None:
    op.drop_table("idempotency_key")
    with op.batch_alter_table("experiment") as batch:
        batch.drop_index(op.f("ix_experiment_archived_at"))
        batch.drop_column("archived_at")
        batch.drop_column("notes")
        batch.drop_column("tags")
