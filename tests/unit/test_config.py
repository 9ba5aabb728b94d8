from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.config import Settings, load_settings
from orchestrator.errors import ConfigurationError
from orchestrator.store.connection import cluster_seeds, is_cluster_url


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no developer .env file
    for name in (
        "PORT",
        "HOST",
        "REDIS_URL",
        "REDIS_CLUSTER",
        "LOG_LEVEL",
        "API_KEY",
        "CORS_ORIGINS",
        "DATA_DIR",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_match_the_original_service() -> None:
    settings = load_settings()
    assert settings.port == 9000
    assert settings.redis_url is None
    assert settings.log_level == "info"
    assert settings.orchestrator_id  # generated when absent
    assert settings.cors_origins == []


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("PORT", "abc", "PORT: Input should be a valid integer"),
        ("PORT", "70000", "PORT: Input should be less than or equal to 65535"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL: Input should be 'debug', 'info', 'warn' or 'error'"),
        ("REDIS_URL", "http://localhost:6379", "REDIS_URL: Value error, scheme must be one of"),
        ("REDIS_URL", "redis+cluster://", "REDIS_URL: Value error, a cluster URL names at least"),
        (
            "REDIS_URL",
            "redis+cluster://a:7000/2",
            "REDIS_URL: Value error, a cluster has database 0",
        ),
        ("REDIS_CLUSTER", "true", "REDIS_CLUSTER=true needs a redis:// or rediss:// REDIS_URL"),
        ("CORS_ORIGINS", "https://ok.example, not-an-origin", "CORS_ORIGINS: Value error"),
        ("SHUTDOWN_GRACE_SEC", "0", "SHUTDOWN_GRACE_SEC: Input should be greater than 0"),
    ],
)
def test_an_invalid_variable_is_named_with_its_problem(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message


def test_secrets_are_not_echoed_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "http://user:hunter2@example.com")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("WARNING", "warn"), ("Error", "error"), (" debug ", "debug")],
)
def test_log_level_is_forgiving_about_spelling(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("LOG_LEVEL", value)
    assert load_settings().log_level == expected


def test_cors_origins_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, http://localhost:3000,")
    assert load_settings().cors_origins == ["https://a.example", "http://localhost:3000"]


def test_empty_values_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "")
    monkeypatch.setenv("API_KEY", "")
    settings = load_settings()
    assert settings.redis_url is None
    assert settings.api_key is None


def test_a_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PORT=9100\nLOG_LEVEL=debug\n")
    settings = load_settings()
    assert (settings.port, settings.log_level) == (9100, "debug")


def test_the_example_file_is_a_valid_configuration(tmp_path: Path) -> None:
    example = Path(__file__).parents[2] / ".env.example"
    (tmp_path / ".env").write_text(example.read_text())
    settings = load_settings()
    assert settings.port == 9000
    assert settings.redis_url is None
    assert settings.orchestrator_id
    assert settings.cors_origins == []


def test_the_example_file_lists_every_setting() -> None:
    example = (Path(__file__).parents[2] / ".env.example").read_text()
    listed = {line.split("=")[0] for line in example.splitlines() if "=" in line}
    assert listed == {name.upper() for name in Settings.model_fields}


def test_an_llm_endpoint_needs_a_model_and_the_error_shows_no_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLM_BASE_URL", "http://localhost:11434/v1")
    monkeypatch.setenv("LLM_API_KEY", "sk-hidden-123")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert "LLM_BASE_URL and LLM_MODEL are set together" in str(caught.value)
    assert "sk-hidden-123" not in str(caught.value)
    monkeypatch.setenv("LLM_MODEL", "llama3.1")
    llm = load_settings().llm_settings()
    assert llm is not None
    assert (llm.base_url, llm.model) == ("http://localhost:11434/v1", "llama3.1")
    monkeypatch.setenv("LLM_BASE_URL", "ftp://x")
    with pytest.raises(ConfigurationError, match=r"LLM_BASE_URL: .*http"):
        load_settings()


def test_global_webhooks_are_json_and_must_be_public(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = {"url": "https://hooks.example.com/a", "secret": "x" * 16}
    monkeypatch.setenv("ALERT_WEBHOOKS", json.dumps([hook]))
    (loaded,) = load_settings().alert_settings().webhooks
    assert (str(loaded.url), loaded.secret) == (hook["url"], hook["secret"])
    monkeypatch.setenv("ALERT_WEBHOOKS", json.dumps([{**hook, "url": "http://192.168.1.5/a"}]))
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert "ALERT_WEBHOOKS[0]: 192.168.1.5 is not a public address" in str(caught.value)
    assert "x" * 16 not in str(caught.value)
    monkeypatch.setenv("ALERT_ALLOW_PRIVATE", "true")
    assert len(load_settings().alert_settings().webhooks) == 1


@pytest.mark.parametrize(
    ("url", "cluster"),
    [
        ("redis://localhost:6379/0", False),
        ("redis+cluster://10.0.0.1:7000,10.0.0.2:7001", True),
        ("rediss+cluster://:pw@cache.example:6380", True),
    ],
)
def test_a_cluster_is_named_by_its_scheme(url: str, *, cluster: bool) -> None:
    assert load_settings(redis_url=url).redis_url == url
    assert is_cluster_url(url) is cluster


def test_a_redis_url_is_a_cluster_seed_with_redis_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://seed.example:7000")
    monkeypatch.setenv("REDIS_CLUSTER", "true")
    assert load_settings().redis_cluster is True
    monkeypatch.setenv("REDIS_URL", "redis://seed.example:7000/3")
    with pytest.raises(ConfigurationError, match="REDIS_URL: a cluster has database 0 only"):
        load_settings()
    monkeypatch.setenv("REDIS_URL", "unix:///run/redis.sock")
    with pytest.raises(ConfigurationError, match="REDIS_CLUSTER=true needs"):
        load_settings()


def test_cluster_seeds_carry_credentials_and_tls_to_every_node() -> None:
    options, seeds = cluster_seeds("rediss+cluster://app:s%40cret@a.example:7000,[::1]:7001,b")
    assert seeds == [("a.example", 7000), ("::1", 7001), ("b", 6379)]
    assert options == {"username": "app", "password": "s@cret", "ssl": True}
    options, seeds = cluster_seeds("redis://seed:7000/0?socket_timeout=3")
    assert (options, seeds) == ({"socket_timeout": 3.0}, [("seed", 7000)])


def test_replicas_are_awaited_for_less_than_the_command_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings().redis_wait_replicas == 0  # off unless asked
    monkeypatch.setenv("REDIS_WAIT_REPLICAS", "1")
    monkeypatch.setenv("REDIS_WAIT_TIMEOUT_MS", "2000")
    with pytest.raises(ConfigurationError, match="REDIS_WAIT_TIMEOUT_MS must be shorter than"):
        load_settings()  # the command would time out first, with the write unconfirmed
    monkeypatch.setenv("REDIS_TIMEOUT_SEC", "3")
    assert load_settings().redis_wait_timeout_ms == 2000


@pytest.mark.parametrize("secret", ["********", "short"])
def test_a_global_webhook_needs_a_real_secret(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    hook = {"url": "https://hooks.example.com/a", "secret": secret}
    monkeypatch.setenv("ALERT_WEBHOOKS", json.dumps([hook]))
    with pytest.raises(ConfigurationError, match="16 to 256 characters"):
        load_settings()
