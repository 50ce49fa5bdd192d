from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.e2e.harness import World, start_world, stop_world

# Friday 27 March 2026, 09:00 UTC (= 09:00 in London, still GMT): DST starts on Sunday.
START = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    started = await start_world(tmp_path, START)
    try:
        yield started
    finally:
        await stop_world(started)
