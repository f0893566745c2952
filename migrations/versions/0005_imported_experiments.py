"""Imported experiments: provenance (source, licence, caveats) and the imported file's SHA-256.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    # batch mode: SQLite cannot add a UNIQUE constraint to an existing table in place.
    with op.batch_alter_table("experiment") as batch:
        batch.add_column(sa.Column("provenance", JSON, nullable=True))
        batch.add_column(sa.Column("source_sha256", sa.String(length=64), nullable=True))
        batch.create_unique_constraint(op.f("uq_experiment_source_sha256"), ["source_sha256"])


def downgrade() -> None:
    with op.batch_alter_table("experiment") as batch:
        batch.drop_constraint(op.f("uq_experiment_source_sha256"), type_="unique")
        batch.drop_column("source_sha256")
        batch.drop_column("provenance")
