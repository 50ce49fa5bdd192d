"""The dispatch lead: one holder of the advisory lock per bot; it passes on when the
holder's connection dies or it lets go. SQLite: always this process."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from schedules.db import make_engine
from schedules.leader import AdvisoryLock, SoleLeader, leadership_for, lock_key

TOKEN = "123456:secret-part"


async def kill_other_connections(engine: AsyncEngine) -> int:
    """Terminate the other sessions and wait (up to 10 s each) until they have gone:
    without the timeout, pg_terminate_backend only signals and returns at once."""
    async with engine.connect() as connection:
        killed = await connection.scalar(
            sa.text(
                "SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    return int(killed or 0)


async def test_one_process_leads_and_the_other_stands_by(postgres_engine: AsyncEngine) -> None:
    first = leadership_for(postgres_engine, TOKEN)
    second = leadership_for(postgres_engine, TOKEN)
    try:
        assert isinstance(first, AdvisoryLock)
        assert await first.try_lead()
        assert await first.try_lead(), "the leader keeps the lead"
        assert not await second.try_lead()
    finally:
        await first.release()
        await second.release()


async def test_the_lead_passes_on_when_the_leader_lets_go(postgres_engine: AsyncEngine) -> None:
    first = AdvisoryLock(postgres_engine, lock_key("dispatch", TOKEN))
    second = AdvisoryLock(postgres_engine, lock_key("dispatch", TOKEN))
    try:
        assert await first.try_lead()
        await first.release()
        assert await second.try_lead()
        assert not await first.try_lead()
    finally:
        await first.release()
        await second.release()


async def test_a_leader_whose_connection_dies_loses_the_lead_and_a_standby_takes_it(
    postgres_engine: AsyncEngine,
) -> None:
    first = AdvisoryLock(postgres_engine, lock_key("dispatch", TOKEN))
    second = AdvisoryLock(postgres_engine, lock_key("dispatch", TOKEN))
    try:
        assert await first.try_lead()
        assert await kill_other_connections(postgres_engine) >= 1

        assert await second.try_lead(), "the lock went with the connection"
        assert not await first.try_lead(), "the old leader notices and stands by"
    finally:
        await first.release()
        await second.release()


async def test_bots_with_other_tokens_lead_independently(postgres_engine: AsyncEngine) -> None:
    one = leadership_for(postgres_engine, "111:aaa")
    other = leadership_for(postgres_engine, "222:aaa")
    try:
        assert await one.try_lead()
        assert await other.try_lead()
    finally:
        await one.release()
        await other.release()


def test_the_key_depends_on_the_bot_id_only_never_the_secret() -> None:
    assert lock_key("dispatch", "111:aaa") == lock_key("dispatch", "111:bbb")
    assert lock_key("dispatch", "111:aaa") != lock_key("dispatch", "222:aaa")
    assert lock_key("dispatch", "111:aaa") != lock_key("startup", "111:aaa")


async def test_sqlite_always_leads(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'one.db'}")
    try:
        leadership = leadership_for(engine, TOKEN)
        assert isinstance(leadership, SoleLeader)
        assert await leadership.try_lead()
    finally:
        await engine.dispose()
