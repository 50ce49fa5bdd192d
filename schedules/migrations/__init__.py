"""Alembic migrations, shipped inside the package (``schedules.migrate`` runs them)."""
