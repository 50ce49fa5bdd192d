"""`aftercare db ...` as an operator runs it: a fresh SQLite file migrated up, down, up."""

from __future__ import annotations

from pathlib import Path

import pytest

from schedules.migrate import head_revision
from tests.e2e.test_cli import aftercare

# They choose their own database, not the e2e worlds': the Postgres pass skips them.
pytestmark = pytest.mark.own_database

URL = "sqlite+aiosqlite:///aftercare.db"  # relative: the file lands in the test's cwd


def test_upgrade_current_downgrade_from_any_directory(tmp_path: Path) -> None:
    head = head_revision()
    before = aftercare("db", "current", "--database-url", URL, cwd=tmp_path)
    assert before.returncode == 0, before.stdout + before.stderr
    assert before.stdout.startswith(f"none (empty; head is {head})")

    upgraded = aftercare("db", "upgrade", "--database-url", URL, cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert f"upgraded (revision {head})" in upgraded.stdout
    assert (tmp_path / "aftercare.db").exists()

    now = aftercare("db", "current", "--database-url", URL, cwd=tmp_path)
    assert now.stdout.startswith(f"{head} (current; head is {head})")

    down = aftercare("db", "downgrade", "base", "--database-url", URL, cwd=tmp_path)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "downgraded (revision base)" in down.stdout
    again = aftercare("db", "upgrade", "--database-url", URL, cwd=tmp_path)
    assert f"upgraded (revision {head})" in again.stdout


def test_an_unknown_revision_is_a_plain_error(tmp_path: Path) -> None:
    result = aftercare("db", "downgrade", "nope", "--database-url", URL, cwd=tmp_path)
    assert result.returncode == 1
    assert "error: Can't locate revision identified by 'nope'" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
