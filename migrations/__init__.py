"""Alembic migrations of the InitLab store; run them with `initlab db upgrade`."""
