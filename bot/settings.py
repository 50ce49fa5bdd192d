"""Settings from ``AFTERCARE_*`` environment variables (and the CLI flags of the same names)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from messages.render import UNNAMED_CLINIC
from schedules.errors import AftercareError


class Settings(BaseSettings):
    """Everything an operator can configure. No token means: use the local sandbox."""

    model_config = SettingsConfigDict(env_prefix="AFTERCARE_", env_file=".env", extra="ignore")

    token: str | None = Field(default=None, description="Telegram bot token from @BotFather")
    api_base_url: str | None = Field(
        default=None,
        description="Bot API base URL, PTB convention (e.g. http://127.0.0.1:8081/bot)",
    )
    database_url: str = Field(
        default="sqlite+aiosqlite:///aftercare.db", description="SQLAlchemy async URL"
    )
    protocol: str = Field(default="microneedling", description="Bundled protocol for new patients")
    clock_speed: float = Field(default=1.0, gt=0, description="Fast clock for demos (1 = real)")
    clock_start: datetime | None = Field(
        default=None, description="Simulated start instant of a fast clock (ISO 8601, with offset)"
    )
    clock_epoch: float | None = Field(
        default=None,
        description="Unix time at which a fast clock shows clock_start; processes sharing it agree",
    )
    clinic_slug: str = Field(default="clinic", description="Id of the clinic patients join")
    clinic_name: str = Field(default=UNNAMED_CLINIC, description="Clinic name shown to patients")
    clinic_timezone: str = Field(default="UTC", description="The clinic's own timezone")
    clinic_phone: str | None = Field(default=None, description="Contact line given to patients")
    clinic_emergency_number: str | None = Field(
        default=None, description='Emergency number patients are told to call (e.g. "112")'
    )
    staff_code: str | None = Field(
        default=None, description="Code staff send with /staff to join; generated if unset"
    )
    spool_dir: Path = Field(
        default=Path("aftercare-spool"),
        description="Where symptom reports wait (0600) while the database refuses writes",
    )
    sandbox_port: int = Field(default=8081, description="Port of the sandbox `run` starts")
    dispatch_batch: int = Field(default=200, ge=1, description="Reminders claimed per batch")
    claim_lease_seconds: float = Field(default=30.0, gt=0, description="How long a claim lives")
    safety_wake_seconds: float = Field(default=5.0, gt=0, description="Periodic dispatcher wake")
    leader_check_seconds: float = Field(
        default=2.0,
        gt=0,
        description="How often a standby tries to take the dispatch lead (several processes "
        "on Postgres), and the leader checks it still holds it",
    )
    send_window: int = Field(
        default=8,
        ge=1,
        description="Sends of reminders (and of broadcasts) in flight or not yet recorded at "
        "once: the most messages a kill -9 can send twice; 8 keeps 30/s over a 150 ms link",
    )
    max_send_attempts: int = Field(default=6, ge=1, description="Tries before a reminder fails")
    messages_per_second: float = Field(
        default=25.0, gt=0, description="Outbound budget per bot (Telegram allows about 30)"
    )
    startup_wait_seconds: float = Field(
        default=120.0, ge=0, description="How long to keep retrying an unreachable Bot API at start"
    )
    retention_days: int = Field(
        default=365, ge=1, description="Days after a patient's aftercare ends before we forget them"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Least severe log level written"
    )
    log_format: Literal["auto", "text", "json"] = Field(
        default="auto",
        description="Log lines as text or JSON objects; auto = text on a terminal, else JSON",
    )
    http_host: str = Field(
        default="127.0.0.1", description="Address of /healthz, /metrics, webhook"
    )
    http_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port of /healthz, /metrics and the webhook; unset = no HTTP server "
        "(8080 in webhook mode), 0 = any free port",
    )
    health_max_lag_seconds: float = Field(
        default=300.0, gt=0, description="/healthz answers 503 when reminders are this late"
    )
    webhook_url: str | None = Field(
        default=None, description="Public HTTPS URL for Telegram updates; unset = long polling"
    )
    webhook_secret: str | None = Field(
        default=None, description="Secret Telegram sends with each update; generated if unset"
    )
    public_url: str | None = Field(
        default=None,
        description="Address staff open the clinic console at (e.g. https://care.example.com); "
        "unset = this process's own HTTP server",
    )
    console_secret: str | None = Field(
        default=None,
        description="Key that signs console sessions; derived from the bot token if unset",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_capitals(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class SettingsError(AftercareError):
    """A setting is malformed or out of range; the message names each one and why."""


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the flags a command was given on top."""
    try:
        return Settings(**{key: value for key, value in overrides.items() if value is not None})
    except ValidationError as error:
        raise SettingsError(describe(error)) from None


def describe(error: ValidationError) -> str:
    """One line per bad setting, named as the operator writes it; the value is not shown
    (it may be a token or a database password)."""
    lines = ["invalid settings:"]
    for problem in error.errors():
        name = ".".join(str(part) for part in problem["loc"]) or "?"
        lines.append(f"  AFTERCARE_{name.upper()} (--{name.replace('_', '-')}): {problem['msg']}")
    return "\n".join(lines)
