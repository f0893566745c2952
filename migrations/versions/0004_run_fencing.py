"""Run fencing and liveness: the owner's fence, progress apart from the heartbeat, stalls,
the re-queue reason, the fence that wrote each metric row, and the lease table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("run", sa.Column("fence", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("run", sa.Column("stalls", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("run", sa.Column("requeue_reason", sa.String(length=16), nullable=True))
    op.add_column("run", sa.Column("progress_at", TIME, nullable=True))
    op.create_index("ix_run_status_id", "run", ["status", "id"])
    op.add_column("metric", sa.Column("fence", sa.Integer(), nullable=True))
    op.create_table(
        "lease",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=True),
        sa.Column("expires", TIME, nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_lease")),
    )


def downgrade() -> None:
    op.drop_table("lease")
    with op.batch_alter_table("metric") as batch:
        batch.drop_column("fence")
    op.drop_index("ix_run_status_id", table_name="run")
    with op.batch_alter_table("run") as batch:
        for column in ("progress_at", "requeue_reason", "stalls", "fence"):
            batch.drop_column(column)
