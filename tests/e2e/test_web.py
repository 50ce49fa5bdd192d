"""The daemon's HTTP side: /healthz, /metrics and webhook mode, over real HTTP."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from schedules.db import make_engine, session_factory
from tests.e2e.conftest import START
from tests.e2e.harness import TOKEN, World, start_world, stop_world

HOOK = "https://aftercare.example/telegram/updates"
SECRET = "e2e-webhook-secret"
METRICS = (
    "aftercare_reminders_sent_total",
    "aftercare_reminders_failed_total",
    "aftercare_reminders_pending",
    "aftercare_dispatch_lag_seconds",
    "aftercare_telegram_429_total",
    "aftercare_escalations_open",
    "aftercare_broadcast_deliveries_total",
    "aftercare_triage_total",
)


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[World]:
    started = await start_world(tmp_path, START, http_port=0)
    try:
        yield started
    finally:
        await stop_world(started)


@pytest.fixture
async def hooked(tmp_path: Path) -> AsyncIterator[World]:
    started = await start_world(
        tmp_path, START, http_port=0, webhook_url=HOOK, webhook_secret=SECRET
    )
    # The HTTPS proxy in front of the daemon: Telegram POSTs to HOOK, the daemon gets /path.
    started.sandbox.route_webhooks(started.daemon.http_url)
    try:
        yield started
    finally:
        await stop_world(started)


async def fetch(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


async def health(world: World) -> tuple[int, dict[str, Any]]:
    url = f"{world.daemon.http_url}/healthz"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.json()


def sample(body: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", body, re.MULTILINE)
    assert found is not None, f"{name} not in the metrics"
    return float(found.group(1))


async def test_healthz_reports_database_scheduler_and_lag(web: World) -> None:
    status, body = await health(web)
    assert status == 200
    assert body == {
        "role": "leader",
        "db": "ok",
        "scheduler": "running",
        "dispatch_lag_seconds": 0.0,
    }


async def test_healthz_is_503_when_reminders_are_late_beyond_the_threshold(web: World) -> None:
    await web.person().enrols()
    await web.settle()  # what was already due is sent
    assert web.daemon.dispatcher is not None
    limit = web.daemon.settings.health_max_lag_seconds
    async with web.daemon.pass_loop("care").lock:  # no dispatch pass catches up meanwhile
        due = await web.daemon.dispatcher.next_due_at()
        assert due is not None
        web.clock.set(due + timedelta(seconds=limit + 60))
        status, body = await health(web)
    assert status == 503
    assert body["dispatch_lag_seconds"] >= limit + 60
    await web.settle()  # the dispatcher catches up: healthy again
    assert (await health(web))[0] == 200


async def test_healthz_is_503_when_the_scheduler_stopped(web: World) -> None:
    web.daemon._scheduler.shutdown(wait=False)
    status, body = await health(web)
    assert status == 503
    assert body["scheduler"] == "stopped"


async def test_healthz_is_503_when_the_database_is_unreachable(web: World, tmp_path: Path) -> None:
    # A database file that cannot be opened stands in for a database server that is down.
    unreachable = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'gone.db'}")
    sessions, web.daemon.sessions = web.daemon.sessions, session_factory(unreachable)
    try:
        status, body = await health(web)
    finally:
        web.daemon.sessions = sessions
        await unreachable.dispose()
    assert status == 503
    assert body["db"] == "unreachable"
    assert body["dispatch_lag_seconds"] is None


async def test_metrics_count_a_sent_reminder_and_name_no_patient(web: World) -> None:
    pat = web.person(1001)
    await pat.enrols()
    await pat.says("there is yellow crust and I feel hot", expect="clinic")
    status, body = await fetch(f"{web.daemon.http_url}/metrics")
    assert status == 200
    for name in METRICS:
        assert name in body
    assert sample(body, "aftercare_reminders_sent_total") == 0
    assert sample(body, "aftercare_reminders_pending") > 0
    before = len(pat.bot_texts())
    await web.live_until(START + timedelta(days=1))
    assert len(pat.bot_texts()) > before
    _, body = await fetch(f"{web.daemon.http_url}/metrics")
    assert sample(body, "aftercare_reminders_sent_total") >= 1
    assert re.search(r'^aftercare_triage_total\{level="\w+"\} 1\.0$', body, re.MULTILINE)
    assert not re.search(r"(?<![\d.])1001(?![\d.])", body), "a chat id leaked into the metrics"
    for text in pat.bot_texts():
        for line in filter(None, (part.strip() for part in text.splitlines())):
            assert line[:30] not in body, "message text leaked into the metrics"


async def test_two_daemons_keep_separate_registries(web: World, tmp_path: Path) -> None:
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other = await start_world(other_dir, START, http_port=0)
    try:
        _, mine = await fetch(f"{web.daemon.http_url}/metrics")
        _, theirs = await fetch(f"{other.daemon.http_url}/metrics")
        assert "aftercare_reminders_sent_total 0.0" in mine
        assert "aftercare_reminders_sent_total 0.0" in theirs
    finally:
        await stop_world(other)


async def test_webhook_mode_delivers_updates_to_the_daemon(hooked: World) -> None:
    info = await hooked.daemon.application.bot.get_webhook_info()  # type: ignore[union-attr]
    assert info.url == HOOK
    await hooked.person().enrols()
    assert hooked.sandbox.webhook_deliveries >= 7
    assert hooked.sandbox.long_polls_waiting == 0


async def test_webhook_refuses_a_post_without_the_secret(hooked: World) -> None:
    url = f"{hooked.daemon.http_url}/telegram/updates"
    async with aiohttp.ClientSession() as http:
        wrong = {"X-Telegram-Bot-Api-Secret-Token": "guess"}
        async with http.post(url, json={"update_id": 1}, headers=wrong) as response:
            assert response.status == 403
        async with http.post(url, json={"update_id": 1}) as response:
            assert response.status == 403


async def test_get_updates_conflicts_while_the_webhook_is_set(hooked: World) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{hooked.sandbox.base_url}{TOKEN}/getUpdates"
        async with http.post(url) as response:
            assert response.status == 409
            assert "webhook is active" in (await response.json())["description"]
