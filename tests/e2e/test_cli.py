"""The `aftercare` command as a user runs it."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

# They choose their own database, not the e2e worlds': the Postgres pass skips them.
pytestmark = pytest.mark.own_database

DATA = Path(__file__).parent.parent / "data" / "protocols"


def aftercare(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_plan_prints_json_with_local_and_utc_times_without_a_database(tmp_path: Path) -> None:
    result = aftercare(
        "plan", "--treated", "2026-03-28T10:00", "--tz", "Europe/London", "--json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {"step", "due_local", "due_utc", "text"} <= rows[0].keys()
    makeup = next(r for r in rows if r["step"] == "makeup-allowed")
    # 24 h across the spring-forward night: 10:00 GMT + 24 h = 11:00 BST.
    assert makeup["due_local"] == "2026-03-29T11:00:00+01:00"
    assert makeup["due_utc"] == "2026-03-29T10:00:00+00:00"
    for row in rows:
        local = datetime.fromisoformat(row["due_local"])
        assert 8 <= local.hour < 21
    assert list(tmp_path.iterdir()) == []  # no database touched


def test_plan_refuses_an_unknown_timezone_clearly() -> None:
    result = aftercare("plan", "--treated", "2026-03-28T10:00", "--tz", "Mars/Olympus")
    assert result.returncode == 2
    assert "unknown timezone" in result.stdout + result.stderr


def test_protocol_check_names_file_step_and_field() -> None:
    result = aftercare("protocol", "check", str(DATA / "bad_time.yaml"))
    assert result.returncode == 1
    assert "bad_time.yaml" in result.stderr
    assert "step" in result.stderr
    assert "field" in result.stderr


def test_protocol_check_accepts_the_bundled_protocol() -> None:
    bundled = Path(__file__).parents[2] / "schedules" / "protocols" / "microneedling.yaml"
    result = aftercare("protocol", "check", str(bundled))
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def background(*args: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "bot", *args], stdout=out, stderr=out)
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


async def until_listening(session: aiohttp.ClientSession, url: str) -> None:
    """A freshly started process takes a moment to bind its port."""
    for _ in range(300):
        try:
            await control(session, "GET", url)
            return
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.05)  # a bounded poll for a port, not timing of behaviour
    raise TimeoutError(f"nothing listens at {url}")


async def control(session: aiohttp.ClientSession, method: str, url: str, **body: Any) -> Any:
    async with session.request(method, url, json=body or None) as response:
        return await response.json()


async def test_run_talks_to_any_bot_api_server_given_by_base_url(tmp_path: Path) -> None:
    """`aftercare sandbox` in one process, `aftercare run --api-base-url` in another."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        background("sandbox", "--port", str(port), log=tmp_path / "sandbox.log"),
        background(
            "run",
            "--token", "123456:TEST-TOKEN-for-the-sandbox",
            "--api-base-url", f"{base}/bot",
            "--database-url", f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
            log=tmp_path / "bot.log",
        ),
        ):  # fmt: skip
        async with aiohttp.ClientSession() as session:
            await until_listening(session, f"{base}/control/stats")
            await control(session, "POST", f"{base}/control/users/77/text", text="/start")
            found = await control(
                session, "GET", f"{base}/control/chats/77/wait?bot_messages=1&timeout=30"
            )
    transcript = found.get("result") or []
    bot_lines = [entry["text"] for entry in transcript if entry["who"] == "bot"]
    assert bot_lines, (tmp_path / "bot.log").read_text()[-2000:]
    assert "Which language" in bot_lines[0]


def test_run_against_an_unreachable_api_gives_up_with_a_plain_message(tmp_path: Path) -> None:
    token = "123456:SECRET-token-never-printed"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--token", token,
         "--api-base-url", f"http://127.0.0.1:{free_port()}/bot",
         "--database-url", f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "AFTERCARE_STARTUP_WAIT_SECONDS": "0"},
    )  # fmt: skip
    assert result.returncode == 2
    assert "Could not reach the Bot API" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert "SECRET" not in result.stdout + result.stderr


async def test_run_with_a_rejected_token_says_so_without_printing_it(tmp_path: Path) -> None:
    port = free_port()
    with background("sandbox", "--port", str(port), log=tmp_path / "sandbox.log"):
        async with aiohttp.ClientSession() as session:
            await until_listening(session, f"http://127.0.0.1:{port}/control/stats")
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bot", "run", "--token", "123456:SECRET.not.valid",
             "--api-base-url", f"http://127.0.0.1:{port}/bot",
             "--database-url", f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode == 2
    assert "rejected the token" in result.stdout
    assert "SECRET" not in result.stdout + result.stderr


@pytest.mark.skipif(os.environ.get("AFTERCARE_SKIP_DEMO") == "1", reason="demo skipped on request")
def test_the_demo_plays_a_whole_journey_and_exits_zero() -> None:
    result = aftercare("demo")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "Demo finished" in out
    assert "day 28" in out  # the next-session nudge
    assert "is the redness gone?" in out
