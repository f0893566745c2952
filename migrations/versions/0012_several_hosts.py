"""Several hosts: hand-backs of a run no host could read, the digest of the data it read, and
each experiment's device class (execution.device: the queue of its runs).

Checkpoint keys become relative to the artifact root; a stored absolute path still resolves
as a local path (store/artifacts.py), so no row is rewritten.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("experiment") as batch:
        # execution.device of the spec; "any" for experiments submitted before device classes.
        batch.add_column(
            sa.Column("device", sa.String(8), nullable=False, server_default="any")
        )
    with op.batch_alter_table("run") as batch:
        batch.add_column(
            sa.Column("handbacks", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("handback_cause", sa.Text(), nullable=True))
        batch.add_column(sa.Column("data_digest", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.drop_column("data_digest")
        batch.drop_column("handback_cause")
        batch.drop_column("handbacks")
    with op.batch_alter_table("experiment") as batch:
        batch.drop_column("device")
