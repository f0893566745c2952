"""Initial schema: experiment, run, metric, worker.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "experiment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("created", TIME, nullable=False),
        sa.Column("sweep_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment")),
    )
    op.create_index(op.f("ix_experiment_created"), "experiment", ["created"])
    op.create_index(op.f("ix_experiment_status"), "experiment", ["status"])
    op.create_index(op.f("ix_experiment_sweep_id"), "experiment", ["sweep_id"])

    op.create_table(
        "worker",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("device", sa.String(length=255), nullable=False),
        sa.Column("started", TIME, nullable=False),
        sa.Column("heartbeat", TIME, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_worker")),
    )

    text_columns = [
        ("worker", 255),
        ("last_phase", 32),
        ("checkpoint", 1024),
        ("init_fingerprint", 64),
    ]
    env_columns = [
        ("host", 255),
        ("device_name", 255),
        ("initlab_version", 64),
        ("git_commit", 64),
        ("python_version", 64),
        ("torch_version", 64),
        ("torchvision_version", 64),
        ("cuda_version", 64),
    ]
    op.create_table(
        "run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("arm", sa.String(length=64), nullable=False),
        sa.Column("repeat", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("requeues", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("enqueued", TIME, nullable=True),
        sa.Column("started", TIME, nullable=True),
        sa.Column("finished", TIME, nullable=True),
        sa.Column("heartbeat", TIME, nullable=True),
        sa.Column("last_epoch", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("wall_seconds", JSON, nullable=True),
        *[sa.Column(name, sa.String(length=n), nullable=True) for name, n in text_columns],
        *[sa.Column(name, sa.String(length=n), nullable=True) for name, n in env_columns],
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiment.id"],
            name=op.f("fk_run_experiment_id_experiment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run")),
        sa.UniqueConstraint(
            "experiment_id", "arm", "repeat", name=op.f("uq_run_experiment_id_arm_repeat")
        ),
    )
    op.create_index(op.f("ix_run_experiment_id"), "run", ["experiment_id"])
    op.create_index("ix_run_status_heartbeat", "run", ["status", "heartbeat"])

    op.create_table(
        "metric",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("phase", sa.String(length=32), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("split", sa.String(length=16), nullable=False),
        sa.Column("loss", sa.Float(), nullable=True),
        sa.Column("accuracy", sa.Float(), nullable=True),
        sa.Column("lr", sa.Float(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("examples", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiment.id"],
            name=op.f("fk_metric_experiment_id_experiment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["run.id"], name=op.f("fk_metric_run_id_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric")),
        sa.UniqueConstraint(
            "run_id", "phase", "epoch", "split", name=op.f("uq_metric_run_id_phase_epoch_split")
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_metric_experiment_id_id", "metric", ["experiment_id", "id"])


def downgrade() -> None:
    op.drop_table("metric")
    op.drop_table("run")
    op.drop_table("worker")
    op.drop_table("experiment")
