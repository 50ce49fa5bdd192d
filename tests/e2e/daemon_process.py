"""`aftercare run` as a real process on a fast clock, for tests that stop or kill it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from tests.e2e.harness import TOKEN


@contextmanager
def daemon_process(
    *,
    api_base_url: str,
    db_file: Path | None = None,
    database_url: str | None = None,
    log: Path,
    speed: float,
    start: datetime,
    epoch: float,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start the daemon; on leaving, kill it if it still runs. Every run shares one clock:
    the same ``start`` and ``epoch`` make a restarted process carry on where time is.
    The database is ``database_url`` or else the SQLite file ``db_file``."""
    if database_url is None:
        assert db_file is not None, "give db_file or database_url"
        database_url = f"sqlite+aiosqlite:///{db_file}"
    command = [
        sys.executable, "-m", "bot", "run",
        "--token", TOKEN,
        "--api-base-url", api_base_url,
        "--database-url", database_url,
        "--clock-speed", str(speed),
        "--clock-start", start.isoformat(),
        "--clock-epoch", str(epoch),
    ]  # fmt: skip
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
