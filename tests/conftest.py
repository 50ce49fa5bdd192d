"""Shared test settings."""

import os

# PTB 22 warns on integer time periods unless this opt-in is set; tests turn warnings into
# errors. Set before anything below imports telegram.
os.environ.setdefault("PTB_TIMEDELTA", "true")

from collections.abc import Iterator

import pytest

from tests.dbs import postgres_template
from tests.e2e.harness import PostgresWorlds, e2e_database

__all__ = ["postgres_template"]  # the fixture, shared with the e2e worlds

SLOW_VARIABLE = "AFTERCARE_SLOW_TESTS"


def slow_tests_wanted() -> bool:
    return os.environ.get(SLOW_VARIABLE, "").strip().lower() in {"1", "true", "yes"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Long variants (``@pytest.mark.slow``) run only when AFTERCARE_SLOW_TESTS=1; the
    Postgres pass of the e2e worlds skips tests that choose their own database or already
    run on both (``db_url``)."""
    skips = []
    if not slow_tests_wanted():
        skips.append(("slow", f"long variant: set {SLOW_VARIABLE}=1 to run it"))
    postgres_pass = e2e_database() == "postgres"
    if postgres_pass:
        skips.append(("own_database", "uses no e2e world: run in the first pass only"))
    for item in items:
        for keyword, reason in skips:
            if keyword in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))
        if postgres_pass and "db_backend" in getattr(item, "fixturenames", ()):
            # Already run on SQLite and on Postgres (db_url) in the first pass.
            item.add_marker(pytest.mark.skip(reason="runs on both databases in the first pass"))


@pytest.fixture(scope="session", autouse=True)
def e2e_worlds_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """Where in-process worlds (``tests/e2e/harness.start_world``) keep their data:
    SQLite, or Postgres when ``AFTERCARE_E2E_DATABASE=postgres`` (``make test`` runs both)."""
    chosen = e2e_database()
    if chosen == "postgres":
        PostgresWorlds.server = request.getfixturevalue("postgres_template")
    try:
        yield chosen
    finally:
        PostgresWorlds.server = None
