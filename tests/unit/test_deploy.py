"""The deployment files in deploy/: compose, alert rules, env template, image, systemd unit,
and the container health check (run for real against a tiny HTTP server and SQLite)."""

from __future__ import annotations

import configparser
import importlib.util
import re
import shutil
import socket
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from bot.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
METRICS = {
    "aftercare_reminders_sent_total",
    "aftercare_reminders_failed_total",
    "aftercare_dispatch_lag_seconds",
    "aftercare_telegram_429_total",
    "aftercare_escalations_open",
    "aftercare_broadcast_deliveries_total",
    "aftercare_triage_total",
    "aftercare_leader",
}
SECRET_KEY = re.compile(r"PASSWORD|TOKEN|SECRET|KEY", re.IGNORECASE)
INTERPOLATION = re.compile(r"^\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_compose_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "migrate", "bot"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:15")
    assert any(
        volume.endswith(":/var/lib/postgresql/data") for volume in services["postgres"]["volumes"]
    )
    for name in ("migrate", "bot"):
        build = services[name]["build"]
        assert build["context"] == ".."
        assert build["dockerfile"] == "deploy/Dockerfile"
        assert services[name]["env_file"] == ".env"
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    assert services["bot"]["command"] == ["run"]
    assert services["bot"]["restart"] == "unless-stopped"


def test_compose_healthchecks_and_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    pg_check = services["postgres"]["healthcheck"]["test"]
    assert "pg_isready" in " ".join(pg_check)
    assert "/opt/aftercare/healthcheck.py" in services["bot"]["healthcheck"]["test"]
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["bot"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    published = services["bot"]["ports"]
    assert all(port.startswith("127.0.0.1:") for port in published)


def test_compose_has_no_inline_secrets(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key, value in _environment(service).items():
            if SECRET_KEY.search(key):
                assert INTERPOLATION.match(value), f"{name}: {key} is inline"
            plain = re.sub(r"\$\{[^}]*\}", "${}", value)  # interpolations only
            for password in re.findall(r"://[^:/@]*:([^@]*)@", plain):
                assert password == "${}", f"{name}: {key} carries a password"
    text = (DEPLOY / "docker-compose.yml").read_text()
    assert not re.search(r"\d{6,}:[A-Za-z0-9_-]{30,}", text), "a bot token is written inline"


@pytest.fixture(scope="module")
def rules() -> list[dict[str, Any]]:
    data = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def test_every_alert_rule_is_complete(rules: list[dict[str, Any]]) -> None:
    assert rules
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert rule["expr"].strip(), rule["alert"]
        assert re.fullmatch(r"\d+[smh]", str(rule["for"])), rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]


def test_alert_rules_use_only_the_bots_metrics(rules: list[dict[str, Any]]) -> None:
    used: set[str] = set()
    for rule in rules:
        expr = rule["expr"]
        names = set(re.findall(r"\baftercare_[a-z0-9_]+", expr))
        assert names <= METRICS, f"{rule['alert']}: unknown {names - METRICS}"
        assert names or re.search(r"\bup\b", expr), rule["alert"]
        used |= names
    exprs = " ".join(rule["expr"] for rule in rules)
    assert 'up{job="aftercare"} == 0' in exprs
    assert "aftercare_dispatch_lag_seconds) > 120" in exprs
    assert 'aftercare_escalations_open{level="urgent"}) > 0' in exprs
    assert {"aftercare_reminders_failed_total", "aftercare_telegram_429_total"} <= used


def test_deploy_readme_names_every_metric_and_alert(rules: list[dict[str, Any]]) -> None:
    readme = (DEPLOY / "README.md").read_text()
    for metric in METRICS:
        assert metric in readme
    for rule in rules:
        assert rule["alert"] in readme


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_alert_rules_pass_promtool() -> None:
    folder = DEPLOY / "prometheus"
    for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"]):
        result = subprocess.run(
            ["promtool", *args], cwd=folder, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_env_example_documents_every_setting() -> None:
    text = (DEPLOY / ".env.example").read_text()
    documented = re.findall(r"^#?\s*(AFTERCARE_[A-Z0-9_]+)=", text, flags=re.MULTILINE)
    expected = {f"AFTERCARE_{name.upper()}" for name in Settings.model_fields}
    assert set(documented) == expected
    lines = text.splitlines()
    for name in expected:
        at = next(i for i, line in enumerate(lines) if re.match(rf"#?\s*{name}=", line))
        comment = []  # the comment block right above the setting: its meaning and default
        while at > 0 and re.match(r"# (?!\s*AFTERCARE_)", lines[at - 1]):
            at -= 1
            comment.append(lines[at])
        assert "Default:" in " ".join(comment), name
    # Nothing secret is filled in, and nothing is set to an empty value but the required two.
    active = [line for line in lines if line and not line.startswith("#")]
    assert active == ["AFTERCARE_TOKEN=", "POSTGRES_PASSWORD="]


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def test_dockerfile() -> None:
    instructions = _dockerfile_instructions()
    stages = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert len(stages) == 2
    assert stages[0].endswith("AS builder")
    assert stages[1].endswith("AS runtime")
    assert any(keyword == "ARG" and "python:3.11-slim" in rest for keyword, rest in instructions)
    runtime = instructions[[i for i, (k, _) in enumerate(instructions) if k == "FROM"][1] :]
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert ("ENTRYPOINT", '["aftercare"]') in runtime
    assert ("CMD", '["run"]') in runtime
    healthchecks = [rest for keyword, rest in runtime if keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    assert "/opt/aftercare/healthcheck.py" in healthchecks[0]
    env = " ".join(rest for keyword, rest in runtime if keyword == "ENV")
    assert "AFTERCARE_HTTP_PORT=8080" in env
    assert "AFTERCARE_TOKEN" not in env
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert "**/.env" in ignore
    assert ".venv" in ignore
    assert ".git" in ignore


def test_systemd_unit() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "aftercare.service")
    service = unit["Service"]
    assert service["User"] == "aftercare"
    assert service["EnvironmentFile"] == "/etc/aftercare/env"
    assert service["ExecStartPre"].endswith("aftercare db upgrade")
    assert service["ExecStart"].endswith("aftercare run")
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    assert service["TimeoutStopSec"] == "30"
    assert service["NoNewPrivileges"] == "true"
    assert service["ProtectSystem"] == "strict"
    assert service["PrivateTmp"] == "true"
    assert service["ReadWritePaths"] == "/var/lib/aftercare"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_unit_verifies(tmp_path: Path) -> None:
    text = (DEPLOY / "aftercare.service").read_text()
    (tmp_path / "aftercare.service").write_text(
        text.replace("/opt/aftercare/bin/aftercare", shutil.which("true") or "/bin/true")
    )
    result = subprocess.run(
        ["systemd-analyze", "verify", "./aftercare.service"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "aftercare.service" not in result.stderr, result.stderr


# --- the container health check ---------------------------------------------------------


@pytest.fixture(scope="module")
def healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("healthcheck", DEPLOY / "healthcheck.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def health_server() -> Iterator[tuple[int, list[int]]]:
    """An HTTP server whose /healthz answers the status in ``answer[0]``."""
    answer = [200]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(answer[0] if self.path == "/healthz" else 404)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1]), answer
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_healthcheck_asks_healthz(
    healthcheck: ModuleType, health_server: tuple[int, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, answer = health_server
    monkeypatch.setenv("AFTERCARE_HTTP_PORT", str(port))
    monkeypatch.setenv("AFTERCARE_DATABASE_URL", "sqlite+aiosqlite:////nonexistent/x.db")
    assert healthcheck.main() == 0
    answer[0] = 503
    assert healthcheck.main() == 1


def test_healthcheck_falls_back_to_the_database(
    healthcheck: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("AFTERCARE_HTTP_PORT", str(_free_port()))  # nothing listens
    database = tmp_path / "aftercare.db"
    monkeypatch.setenv("AFTERCARE_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    assert healthcheck.main() == 1  # no database file yet: not created by the check either
    assert not database.exists()
    sqlite3.connect(database).close()
    assert healthcheck.main() == 0
    monkeypatch.setenv(
        "AFTERCARE_DATABASE_URL", "postgresql+asyncpg://u:p@127.0.0.1:1/nothing-listens"
    )
    assert healthcheck.main() == 1
