"""Settings, read from the environment (and a ``.env`` file) once, at start-up."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from orchestrator.aggregator import AggregationSettings
    from orchestrator.alerts import AlertSettings
    from orchestrator.llm import LLMSettings
    from orchestrator.mentions import MentionSettings
    from orchestrator.summaries import SummarySettings

from orchestrator.brand import SECRET_MIN_LENGTH, Webhook
from orchestrator.brand_secrets import MASK
from orchestrator.errors import ConfigurationError
from orchestrator.keys import Keys
from orchestrator.spikes import SpikeSettings
from orchestrator.types import MergeRule

LogLevel = Literal["debug", "info", "warn", "error"]

_REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")
_SECRET_VARIABLES = frozenset(
    {"API_KEY", "READ_API_KEY", "REDIS_URL", "LLM_API_KEY", "ALERT_WEBHOOKS"}
)


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
    redis_cluster: bool = Field(
        False, description="REDIS_URL (redis:// or rediss://) is a seed node of a Redis Cluster"
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
    stream_partitions: int = Field(
        1,
        ge=1,
        le=1024,
        description="task and result streams split over this many hash slots (same everywhere)",
    )
    scheduler_round_size: int = Field(200, ge=1, le=10_000, description="due brands per round")
    result_claim_idle_sec: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="results left pending this long by a dead replica are claimed",
    )
    task_lost_after_sec: float = Field(
        600.0,
        ge=1,
        le=86_400,
        description="a task settled by a worker and not released this long is presumed lost "
        "(its result lost in a failover) and offered again",
    )
    registry_sync_sec: float = Field(5.0, gt=0, le=3600, description="brands:list sync period")

    merge_similarity_threshold: float = Field(0.75, ge=-1, le=1, description="cluster merge")
    merge_rule: MergeRule = Field(MergeRule.COSINE, description="for external workers' models")
    own_merge_rule: MergeRule = Field(MergeRule.CENTRED, description="for orchestrator/ models")
    max_clusters_per_brand: int = Field(500, ge=1, le=100_000)
    cluster_sample_size: int = Field(50, ge=1, le=10_000, description="mention ids per cluster")
    cluster_cache_brands: int = Field(128, ge=1, le=1_000_000, description="brands in memory")
    result_dedup_sec: float = Field(7 * 86_400, gt=0, description="processed-markers kept")
    legacy_poll_sec: float = Field(1.0, gt=0, le=3600, description="legacy results lists poll")
    legacy_lease_sec: float = Field(30.0, gt=0, le=3600, description="one reader per list")
    failed_keep: int = Field(10_000, ge=1, description="parked payloads kept in the stream")
    failed_keep_per_brand: int = Field(1_000, ge=1, description="kept in failed:brand:{slug}")
    mention_dedup_sec: float = Field(7 * 86_400, gt=0, description="mention ids remembered")
    mention_dedup_max: int = Field(2_000_000, ge=1, description="mention ids per brand, at most")
    mention_retention_sec: float = Field(3 * 86_400, gt=0, description="analysed mentions kept")
    summary_window: Literal["1h", "24h", "7d", "30d", "all"] = "all"
    summary_min_interval_sec: float = Field(30.0, ge=0, le=86_400, description="per brand")
    summary_ttl_sec: float = Field(86_400.0, gt=0, description="of summary:brand:{slug}")
    summary_history: int = Field(50, ge=1, le=10_000, description="summaries kept per brand")
    analyze_embedding: Literal["lexical", "semantic"] = Field(
        "lexical", description="semantic: all-MiniLM-L6-v2, the [semantic] extra"
    )
    collect_allow_private: bool = Field(False, description="fetch loopback/private addresses")
    collect_file_root: Path | None = Field(None, description="file sources must be under it")
    collect_rate_per_host: float = Field(1.0, gt=0, le=1000, description="requests/s per host")
    spike_resolution: Literal["minute", "hour"] = "hour"
    spike_z_threshold: float = Field(4.0, gt=0, le=100)
    spike_min_count: int = Field(20, ge=1)
    spike_persistence: int = Field(1, ge=1, le=1000, description="unusual buckets in a row")
    spike_cooldown_buckets: int = Field(6, ge=0, le=10_000)
    spike_alpha: float = Field(0.1, gt=0, lt=1, description="baseline weight of a new bucket")
    spike_warmup_buckets: int = Field(12, ge=1, le=10_000)
    spike_grace_sec: float = Field(60.0, ge=0, le=86_400)
    spike_max_wait_sec: float = Field(600.0, gt=0, le=86_400)
    alert_webhooks: list[Webhook] = Field(
        default_factory=list, description='JSON: [{"url": ..., "secret": ...}], every brand'
    )
    alert_allow_private: bool = Field(False, description="webhooks to loopback/private hosts")
    alert_max_attempts: int = Field(8, ge=1, le=100)
    alert_timeout_sec: float = Field(5.0, gt=0, le=120)
    alert_retry_base_sec: float = Field(2.0, gt=0, le=3600)
    alert_retry_max_sec: float = Field(600.0, gt=0, le=86_400)
    alert_log_keep: int = Field(200, ge=1, le=100_000, description="finished deliveries kept")
    summary_cache_sec: float = Field(5.0, ge=0, le=3600, description="served from memory")
    summary_concurrency: int = Field(8, ge=1, le=1000, description="summaries made at once")
    llm_base_url: str | None = Field(None, description="OpenAI-compatible API; unset: grounded")
    llm_api_key: SecretStr | None = None
    llm_model: str | None = Field(None, min_length=1, max_length=200)
    llm_timeout_sec: float = Field(30.0, gt=0, le=600)
    llm_max_tokens: int = Field(800, ge=16, le=32_000)
    llm_concurrency: int = Field(4, ge=1, le=256, description="LLM calls at once")
    llm_breaker_failures: int = Field(5, ge=1, le=1000, description="in a row: open circuit")
    llm_breaker_open_sec: float = Field(60.0, gt=0, le=86_400)

    max_body_bytes: int = Field(6 * 1024 * 1024, ge=1024, description="request body limit")
    shutdown_grace_sec: float = Field(10.0, gt=0, le=300)
    redis_timeout_sec: float = Field(2.0, gt=0, le=60, description="per-command timeout")
    redis_max_connections: int = Field(64, ge=1, le=10_000, description="pool size")
    redis_wait_replicas: int = Field(
        0, ge=0, le=16, description="replicas that confirm a write before it is acknowledged"
    )
    redis_wait_timeout_ms: int = Field(
        1000, ge=1, le=60_000, description="longest wait for those confirmations (WAIT)"
    )
    health_interval_sec: float = Field(1.0, gt=0, le=60, description="Redis watch period")
    embedded_port: int = Field(0, ge=0, le=65535, description="embedded server port; 0: free")

    @field_validator("redis_url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is None:
            return value
        scheme = urlsplit(value).scheme
        if scheme not in _REDIS_SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(_REDIS_SCHEMES)}")
        if scheme.endswith("+cluster"):
            from orchestrator.store.connection import cluster_seeds  # noqa: PLC0415

            cluster_seeds(value)  # host:port[,host:port...], or a ValueError naming the fault
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

    @field_validator("llm_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and (
            urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc
        ):
            raise ValueError("must be an http(s) URL like https://api.openai.com/v1")
        return value

    @model_validator(mode="after")
    def _cluster_url(self) -> Settings:
        if not self.redis_cluster:
            return self
        if self.redis_url is None or urlsplit(self.redis_url).scheme == "unix":
            raise ValueError("REDIS_CLUSTER=true needs a redis:// or rediss:// REDIS_URL (a seed)")
        from orchestrator.store.connection import cluster_seeds  # noqa: PLC0415 - as below

        try:
            cluster_seeds(self.redis_url)
        except ValueError as exc:
            raise ValueError(f"REDIS_URL: {exc}") from None
        return self

    @model_validator(mode="after")
    def _wait_within_timeout(self) -> Settings:
        if self.redis_wait_replicas and self.redis_wait_timeout_ms >= self.redis_timeout_sec * 1000:
            raise ValueError(
                "REDIS_WAIT_TIMEOUT_MS must be shorter than REDIS_TIMEOUT_SEC (the command timeout)"
            )
        return self

    @model_validator(mode="after")
    def _llm_complete(self) -> Settings:
        if (self.llm_base_url is None) != (self.llm_model is None):
            raise ValueError("LLM_BASE_URL and LLM_MODEL are set together (or neither)")
        return self

    @model_validator(mode="after")
    def _public_webhooks(self) -> Settings:
        for index, hook in enumerate(self.alert_webhooks):
            if hook.secret == MASK:  # stands for a stored secret in a brand, for nothing here
                raise ValueError(
                    f"ALERT_WEBHOOKS[{index}]: a secret of {SECRET_MIN_LENGTH} to 256 characters"
                )
            refused = None if self.alert_allow_private else hook.private_target()
            if refused is not None:
                raise ValueError(
                    f"ALERT_WEBHOOKS[{index}]: {refused} (set ALERT_ALLOW_PRIVATE=true to allow)"
                )
        return self

    def keys(self) -> Keys:
        """The key names of this deployment: its prefix and its stream partitions."""
        return Keys(self.key_prefix, self.stream_partitions)

    def alert_settings(self) -> AlertSettings:
        from orchestrator.alerts import AlertSettings  # noqa: PLC0415 - as below

        return AlertSettings(
            webhooks=tuple(self.alert_webhooks),
            allow_private=self.alert_allow_private,
            max_attempts=self.alert_max_attempts,
            timeout_s=self.alert_timeout_sec,
            retry_base_s=self.alert_retry_base_sec,
            retry_max_s=self.alert_retry_max_sec,
            log_keep=self.alert_log_keep,
        )

    def llm_settings(self) -> LLMSettings | None:
        """The LLM provider's settings; None when no endpoint is configured."""
        from orchestrator.llm import LLMSettings  # noqa: PLC0415 - as below

        if self.llm_base_url is None or self.llm_model is None:
            return None
        return LLMSettings(
            base_url=self.llm_base_url,
            model=self.llm_model,
            api_key=self.llm_api_key,
            timeout_s=self.llm_timeout_sec,
            max_tokens=self.llm_max_tokens,
            concurrency=self.llm_concurrency,
            breaker_failures=self.llm_breaker_failures,
            breaker_open_s=self.llm_breaker_open_sec,
        )

    def aggregation_settings(self) -> AggregationSettings:
        # numpy comes with these: imported here, not at the CLI's start
        from orchestrator.aggregator import AggregationSettings  # noqa: PLC0415
        from orchestrator.clusters import MergeSettings  # noqa: PLC0415

        merge = MergeSettings(
            threshold=self.merge_similarity_threshold,
            max_clusters=self.max_clusters_per_brand,
            sample_size=self.cluster_sample_size,
            rule=self.merge_rule,
            own_rule=self.own_merge_rule,
        )
        return AggregationSettings(merge, self.result_dedup_sec, self.cluster_cache_brands)

    def mention_settings(self) -> MentionSettings:
        from orchestrator.mentions import MentionSettings  # noqa: PLC0415 - as above

        return MentionSettings(
            self.mention_dedup_sec, self.mention_dedup_max, self.mention_retention_sec
        )

    def summary_settings(self) -> SummarySettings:
        from orchestrator.summaries import SummarySettings  # noqa: PLC0415 - as above

        return SummarySettings(
            self.summary_window,
            self.summary_min_interval_sec,
            self.summary_ttl_sec,
            self.summary_history,
            self.summary_concurrency,
            self.summary_cache_sec,
        )

    def spike_settings(self) -> SpikeSettings:
        return SpikeSettings(
            resolution=self.spike_resolution,
            z_threshold=self.spike_z_threshold,
            min_count=self.spike_min_count,
            persistence=self.spike_persistence,
            cooldown=self.spike_cooldown_buckets,
            alpha=self.spike_alpha,
            warmup=self.spike_warmup_buckets,
            grace_s=self.spike_grace_sec,
        )


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment; raise ConfigurationError naming each variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(_describe(error) for error in exc.errors())
        raise ConfigurationError(f"invalid configuration: {problems}") from None


def _describe(error: ErrorDetails) -> str:
    if not error["loc"]:  # a rule across settings: its input is every setting, secrets too
        return str(error["msg"]).removeprefix("Value error, ")
    name = "_".join(str(part) for part in error["loc"]).upper()
    shown = "" if name in _SECRET_VARIABLES else f" (got {error['input']!r})"
    return f"{name}: {error['msg']}{shown}"
