"""One module per revision; Alembic ignores this file."""
