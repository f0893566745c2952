"""Calibration searches and their trials (issue 27).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "search",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("created", UTC, nullable=False),
        sa.Column("finished", UTC, nullable=True),
        sa.Column("baseline_experiment_id", sa.Integer(), nullable=True),
        sa.Column("confirm_experiment_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["baseline_experiment_id"], ["experiment.id"],
                                name="fk_search_baseline_experiment_id_experiment",
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["confirm_experiment_id"], ["experiment.id"],
                                name="fk_search_confirm_experiment_id_experiment",
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_search"),
    )
    op.create_index("ix_search_status", "search", ["status"])
    op.create_index("ix_search_owner", "search", ["owner"])
    op.create_table(
        "search_trial",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("intermediate", JSON, nullable=False),
        sa.Column("system_attrs", JSON, nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created", UTC, nullable=False),
        sa.Column("finished", UTC, nullable=True),
        sa.ForeignKeyConstraint(["search_id"], ["search.id"],
                                name="fk_search_trial_search_id_search", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiment.id"],
                                name="fk_search_trial_experiment_id_experiment",
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_search_trial"),
        sa.UniqueConstraint("search_id", "number", name="uq_search_trial_search_id_number"),
    )
    op.create_index("ix_search_trial_search_id", "search_trial", ["search_id"])


def downgrade() -> None:
    op.drop_table("search_trial")
    op.drop_table("search")
