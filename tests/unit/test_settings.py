"""Settings: a malformed one is named, never shown (it may be a secret); logs as JSON."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys

import pytest

from bot.logs import json_formatter
from bot.settings import SettingsError, load_settings


def test_each_malformed_setting_is_named_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERCARE_CLOCK_SPEED", "fast")
    monkeypatch.setenv("AFTERCARE_HTTP_PORT", "99999")

    with pytest.raises(SettingsError) as raised:
        load_settings()

    message = str(raised.value)
    assert "AFTERCARE_CLOCK_SPEED (--clock-speed): Input should be a valid number" in message
    assert (
        "AFTERCARE_HTTP_PORT (--http-port): Input should be less than or equal to 65535" in message
    )


def test_the_rejected_value_is_never_repeated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERCARE_DISPATCH_BATCH", "s3cr3t-looking-value")

    with pytest.raises(SettingsError) as raised:
        load_settings()

    assert "AFTERCARE_DISPATCH_BATCH" in str(raised.value)
    assert "s3cr3t" not in str(raised.value)


def test_a_flag_is_checked_like_its_variable() -> None:
    with pytest.raises(SettingsError, match="AFTERCARE_CLOCK_SPEED"):
        load_settings(clock_speed=-1)


def test_log_level_and_format_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERCARE_LOG_LEVEL", "info")
    assert load_settings().log_level == "INFO"
    monkeypatch.setenv("AFTERCARE_LOG_FORMAT", "xml")
    with pytest.raises(SettingsError, match="AFTERCARE_LOG_FORMAT"):
        load_settings()


def test_the_cli_says_what_is_wrong_and_exits_2_without_a_traceback() -> None:
    env = {**os.environ, "AFTERCARE_CLOCK_SPEED": "fast", "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run"], env=env, capture_output=True, text=True, timeout=60
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2
    assert "AFTERCARE_CLOCK_SPEED" in output
    assert "Traceback" not in output


def test_a_json_log_line_is_one_object_with_level_logger_time_and_extras() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    logger = logging.getLogger("tests.json-lines")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("dispatch pass %s", "sent=3", extra={"sent": 3})
    finally:
        logger.removeHandler(handler)

    line = json.loads(stream.getvalue())
    assert line["level"] == "WARNING"
    assert line["logger"] == "tests.json-lines"
    assert line["message"] == "dispatch pass sent=3"
    assert line["sent"] == 3
    assert line["time"].endswith("+00:00")
