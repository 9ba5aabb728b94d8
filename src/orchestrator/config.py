"""Settings, read from the environment (and a ``.env`` file) once, at start-up."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from orchestrator.errors import ConfigurationError

LogLevel = Literal["debug", "info", "warn", "error"]

_REDIS_SCHEMES = ("redis", "rediss", "unix")
_SECRET_VARIABLES = frozenset({"API_KEY", "READ_API_KEY", "REDIS_URL"})


def _default_orchestrator_id() -> str:
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


class Settings(BaseSettings):
    """Every setting of the service; each field is one environment variable (upper case)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_ignore_empty=True,
        frozen=True,
        validate_default=True,
    )

    port: int = Field(9000, ge=1, le=65535, description="HTTP port")
    host: str = Field("127.0.0.1", min_length=1, description="HTTP bind address")
    redis_url: str | None = Field(
        None, description="Redis/Valkey URL; unset starts the embedded server"
    )
    log_level: LogLevel = "info"
    orchestrator_id: str = Field(
        default_factory=_default_orchestrator_id,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9._:-]+$",
    )
    data_dir: Path = Field(Path(".data"), description="embedded server's data directory")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated allowed origins; empty: no CORS"
    )
    api_key: SecretStr | None = Field(None, description="Bearer key for mutating requests")
    read_api_key: SecretStr | None = Field(None, description="Bearer key for /v1 reads")
    key_prefix: str = Field("orch", pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    leader_lease_sec: float = Field(5.0, ge=0.3, le=300, description="scheduler lease")
    task_max_attempts: int = Field(5, ge=1, le=100)
    global_max_in_flight: int = Field(10_000, ge=1, le=10_000_000)
    scheduler_round_size: int = Field(200, ge=1, le=10_000, description="due brands per round")
    result_claim_idle_sec: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="results left pending this long by a dead replica are claimed",
    )
    registry_sync_sec: float = Field(5.0, gt=0, le=3600, description="brands:list sync period")

    max_body_bytes: int = Field(6 * 1024 * 1024, ge=1024, description="request body limit")
    shutdown_grace_sec: float = Field(10.0, gt=0, le=300)
    redis_timeout_sec: float = Field(2.0, gt=0, le=60, description="per-command timeout")
    redis_max_connections: int = Field(64, ge=1, le=10_000, description="pool size")
    health_interval_sec: float = Field(1.0, gt=0, le=60, description="Redis watch period")
    embedded_port: int = Field(0, ge=0, le=65535, description="embedded server port; 0: free")

    @field_validator("redis_url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in _REDIS_SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(_REDIS_SCHEMES)}")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().lower()
            return "warn" if value == "warning" else value
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_urls(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            parts = urlsplit(origin)
            if origin != "*" and (parts.scheme not in ("http", "https") or not parts.netloc):
                raise ValueError(f"{origin!r} is not an origin like https://example.com")
        return origins


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment; raise ConfigurationError naming each variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(_describe(error) for error in exc.errors())
        raise ConfigurationError(f"invalid configuration: {problems}") from None


def _describe(error: ErrorDetails) -> str:
    name = "_".join(str(part) for part in error["loc"]).upper()
    shown = "" if name in _SECRET_VARIABLES else f" (got {error['input']!r})"
    return f"{name}: {error['msg']}{shown}"
