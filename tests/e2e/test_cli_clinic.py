"""`aftercare clinic ...` as an operator runs it, on a SQLite file."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.qr import PNG_SIGNATURE, qr_png
from tests.e2e.harness import start_world, stop_world

LINK = re.compile(r"https://t\.me/(\w+)\?start=([ci]-[0-9a-f]+)")


def aftercare(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the command; the bot's username comes only from ``env`` or the default."""
    base = {k: v for k, v in os.environ.items() if k != "AFTERCARE_BOT_USERNAME"}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **env},
    )


def database(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}"


def create(tmp_path: Path, *extra: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    return aftercare(
        "clinic", "create", "--name", "Glow Clínic Madrid", "--tz", "Europe/Madrid",
        "--phone", "+34 910 000 000", "--emergency-number", "112",
        "--database-url", url or database(tmp_path), *extra,
    )  # fmt: skip


def links(output: str) -> dict[str, str]:
    """ "c" → the patient link's payload, "i" → the invite's (and "bot" → the username)."""
    found = {payload[0]: payload for _, payload in LINK.findall(output)}
    found["bot"] = LINK.findall(output)[0][0]
    return found


@pytest.mark.own_database
def test_create_prints_the_slug_the_patient_link_and_an_owner_invite(tmp_path: Path) -> None:
    result = create(tmp_path, "--bot-username", "glow_aftercare_bot")
    assert result.returncode == 0, result.stderr
    assert "Created clinic glow-clinic-madrid (Glow Clínic Madrid, Europe/Madrid)" in result.stdout
    found = links(result.stdout)
    assert found["bot"] == "glow_aftercare_bot"
    assert re.fullmatch(r"c-[0-9a-f]{16}", found["c"])
    assert re.fullmatch(r"i-[0-9a-f]{24}", found["i"])
    assert "Owner invite (single use, expires" in result.stdout


@pytest.mark.own_database
def test_the_bot_username_comes_from_the_environment_by_default(tmp_path: Path) -> None:
    env_run = aftercare(
        "clinic", "create", "--name", "Glow", "--tz", "UTC", "--phone", "1",
        "--emergency-number", "112", "--database-url", database(tmp_path),
        AFTERCARE_BOT_USERNAME="from_env_bot",
    )  # fmt: skip
    assert env_run.returncode == 0, env_run.stderr
    assert links(env_run.stdout)["bot"] == "from_env_bot"
    default_run = create(tmp_path)
    assert links(default_run.stdout)["bot"] == "aftercare_sandbox_bot"


@pytest.mark.own_database
def test_a_second_clinic_of_the_same_name_gets_its_own_slug(tmp_path: Path) -> None:
    assert create(tmp_path).returncode == 0
    second = create(tmp_path)
    assert second.returncode == 0, second.stderr
    assert "Created clinic glow-clinic-madrid-2 " in second.stdout


@pytest.mark.own_database
def test_list_shows_each_clinic_with_its_counts(tmp_path: Path) -> None:
    create(tmp_path, "--slug", "glow")
    result = aftercare("clinic", "list", "--json", "--database-url", database(tmp_path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "slug": "glow",
            "name": "Glow Clínic Madrid",
            "timezone": "Europe/Madrid",
            "patients": 0,
            "staff": 0,
        }
    ]
    table = aftercare("clinic", "list", "--database-url", database(tmp_path))
    assert table.returncode == 0, table.stderr
    assert "glow" in table.stdout


@pytest.mark.own_database
def test_qr_writes_a_png_of_the_patient_link(tmp_path: Path) -> None:
    made = create(tmp_path, "--slug", "glow")
    target = tmp_path / "glow.png"
    result = aftercare(
        "clinic", "qr", "glow", "-o", str(target), "--database-url", database(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    png = target.read_bytes()
    assert png.startswith(PNG_SIGNATURE)
    url = f"https://t.me/aftercare_sandbox_bot?start={links(made.stdout)['c']}"
    assert png == qr_png(url)
    assert url in result.stdout


@pytest.mark.own_database
def test_errors_are_plain_messages_with_exit_code_2(tmp_path: Path) -> None:
    bad_zone = aftercare(
        "clinic", "create", "--name", "Glow", "--tz", "Mars/Olympus", "--phone", "1",
        "--emergency-number", "112", "--database-url", database(tmp_path),
    )  # fmt: skip
    unknown = aftercare("clinic", "qr", "nope", "--database-url", database(tmp_path))
    create(tmp_path, "--slug", "glow")
    taken = create(tmp_path, "--slug", "glow")
    bad_slug = create(tmp_path, "--slug", "Not A Slug")
    for result, words in (
        (bad_zone, "unknown timezone"),
        (unknown, 'no clinic with slug "nope"'),
        (taken, "already exists"),
        (bad_slug, "lowercase letters, digits and dashes"),
    ):
        output = result.stdout + result.stderr
        assert result.returncode == 2, output
        assert words in output
        assert "Traceback" not in output


async def test_the_owner_invite_from_the_cli_works_in_the_bot(tmp_path: Path) -> None:
    world = await start_world(tmp_path, datetime.now(UTC))  # on SQLite or Postgres
    try:
        url = world.daemon.settings.database_url
        made = await asyncio.to_thread(create, tmp_path, "--slug", "glow", url=url)
        assert made.returncode == 0, made.stderr
        found = links(made.stdout)
        owner = world.person(9001)
        await owner.says(f"/start {found['i']}", expect="You're now an owner at Glow Clínic Madrid")
        patient = world.person(1001)
        await patient.says(f"/start {found['c']}", expect="assistant of Glow Clínic Madrid")
    finally:
        await stop_world(world)
