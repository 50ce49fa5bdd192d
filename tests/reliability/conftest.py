"""Shared by the reliability tests: the real-database fixtures (SQLite and Postgres), as in
``tests/integration/conftest.py``."""

from __future__ import annotations

from tests.dbs import db_backend, db_engine, db_url, postgres_engine, postgres_template

__all__ = ["db_backend", "db_engine", "db_url", "postgres_engine", "postgres_template"]
