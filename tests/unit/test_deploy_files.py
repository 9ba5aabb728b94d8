"""The Dockerfile, .dockerignore and compose.yaml against the code they run: real settings,
real subcommands and options, the cluster they name, and an image that can start.

Nothing here builds an image (no Docker on the development machines); the wheel the image
installs is checked in tests/e2e/test_image.py.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.core
import typer.main
from typer.testing import CliRunner

from orchestrator.app.routes.health import ROUTES
from orchestrator.cli import app
from orchestrator.config import Settings, load_settings
from orchestrator.store.connection import cluster_seeds
from tests.deploy import (
    ROOT,
    builder_copies,
    cluster_nodes,
    dockerignore_rules,
    instructions,
    our_services,
    read_compose,
    read_stages,
)

SETTING_NAMES = frozenset(
    name
    for field_name, field in Settings.model_fields.items()
    for name in (field_name.upper(), (field.alias or field_name).upper())
)
INTERPRETER_VARIABLES = frozenset({"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"})
VALKEY_PORT = 6379  # the nodes run on the image's default port


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return read_compose()


@pytest.fixture(scope="module")
def ours(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services = our_services(compose)
    assert services, "compose.yaml runs no service built from this repository"
    return services


@pytest.fixture(scope="module")
def final_stage() -> list[Any]:
    stages = read_stages()
    assert len(stages) >= 2, "the Dockerfile builds the wheel in a stage of its own"
    return stages[-1]


def command_problem(args: list[str]) -> str | None:
    """Why ``orchestrator ARGS`` would not start (an unknown subcommand or option, a value
    click refuses), or None."""
    result = CliRunner().invoke(app, [*args, "--help"])  # names: subcommand and options
    if result.exit_code != 0:
        return result.output.strip().splitlines()[-1]
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    try:  # values: parsed and converted as a real start would, without running it
        group.commands[args[0]].make_context(args[0], list(args[1:]))
    except typer.BadParameter as exc:
        return exc.format_message()
    return None


def role(service: dict[str, Any]) -> str:
    return str(service["command"][0])


def seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, f"write durations as whole seconds like 30s, not {duration!r}"
    return int(match.group(1))


def test_every_variable_of_our_services_is_a_setting(ours: dict[str, dict[str, Any]]) -> None:
    unknown = {
        f"{service}: {name}"
        for service, spec in ours.items()
        for name in spec.get("environment", {})
        if name not in SETTING_NAMES
    }
    assert not unknown, f"not fields of orchestrator.config.Settings: {sorted(unknown)}"


def test_every_service_environment_loads_as_settings(
    ours: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no developer .env file
    for spec in ours.values():
        with monkeypatch.context() as env:
            for name, value in spec.get("environment", {}).items():
                # ${VAR:?...} is filled in by compose from the caller's environment
                env.setenv(name, re.sub(r"\$\{[^}]*\}", "placeholder", str(value)))
            load_settings()  # ConfigurationError names the variable


def test_every_command_is_a_real_subcommand_with_real_options(
    ours: dict[str, dict[str, Any]],
) -> None:
    problems = {
        name: command_problem([str(arg) for arg in spec["command"]]) for name, spec in ours.items()
    }
    assert not {name: why for name, why in problems.items() if why}, problems
    roles = sorted(role(spec) for spec in ours.values())
    assert roles == ["serve", "serve", "worker", "worker"]


def test_redis_url_names_exactly_the_cluster_nodes(compose: dict[str, Any]) -> None:
    nodes = {(name, VALKEY_PORT) for name in cluster_nodes(compose)}
    assert len(nodes) == 3
    for name, spec in our_services(compose).items():
        url = spec["environment"]["REDIS_URL"]
        assert url.startswith("redis+cluster://"), name
        _, seeds = cluster_seeds(url)
        assert set(seeds) == nodes, name


def test_the_init_service_creates_the_cluster_of_those_nodes(compose: dict[str, Any]) -> None:
    nodes = cluster_nodes(compose)
    init = compose["services"]["valkey-init"]
    script = "\n".join(init["command"])
    created = re.search(r"--cluster create((?: +[\w.-]+:\d+)+)", script)
    assert created, "valkey-init runs valkey-cli --cluster create"
    assert created.group(1).split() == [f"{name}:{VALKEY_PORT}" for name in nodes]
    assert "--cluster-replicas 0" in script
    assert "--cluster-yes" in script
    assert "cluster_state:ok" in script  # skipped once formed
    for name in nodes:
        assert init["depends_on"][name] == {"condition": "service_healthy"}


def test_nodes_keep_their_addresses_inside_the_network(compose: dict[str, Any]) -> None:
    """A node's peers' addresses are in its nodes.conf: they must survive down/up."""
    ipam = compose["networks"]["default"]["ipam"]["config"][0]
    subnet = ipaddress.ip_network(ipam["subnet"])
    dynamic = ipaddress.ip_network(ipam["ip_range"])
    addresses = [
        ipaddress.ip_address(spec["networks"]["default"]["ipv4_address"])
        for spec in cluster_nodes(compose).values()
    ]
    assert len(set(addresses)) == len(addresses)
    assert all(address in subnet and address not in dynamic for address in addresses)


def test_nodes_persist_with_append_only_files(compose: dict[str, Any]) -> None:
    for name, spec in cluster_nodes(compose).items():
        command = spec["command"]
        assert command[command.index("--appendonly") + 1] == "yes", name
        assert spec["volumes"] == [f"{name}:/data"], name  # nodes.conf and the AOF
        assert name in compose["volumes"]


def test_our_services_start_once_the_cluster_is_formed(ours: dict[str, dict[str, Any]]) -> None:
    for name, spec in ours.items():
        assert spec["depends_on"] == {
            "valkey-init": {"condition": "service_completed_successfully"}
        }, name


def test_replicas_publish_distinct_host_ports_to_the_service_port(
    ours: dict[str, dict[str, Any]],
) -> None:
    published = []
    for spec in ours.values():
        if role(spec) != "serve":
            assert "ports" not in spec
            continue
        port = int(spec["environment"].get("PORT", Settings.model_fields["port"].default))
        (mapping,) = spec["ports"]
        host, container = str(mapping).split(":")[-2:]
        assert int(container) == port
        published.append(int(host))
    assert len(published) == len(set(published)) == 2


def test_replicas_and_workers_have_their_own_ids(ours: dict[str, dict[str, Any]]) -> None:
    ids = [spec["environment"]["ORCHESTRATOR_ID"] for spec in ours.values()]
    assert len(ids) == len(set(ids))


def test_every_replica_and_worker_uses_the_same_stream_partitions(
    ours: dict[str, dict[str, Any]],
) -> None:
    values = {str(spec["environment"].get("STREAM_PARTITIONS")) for spec in ours.values()}
    assert values == {"3"}


def test_docker_waits_out_the_shutdown_deadline(ours: dict[str, dict[str, Any]]) -> None:
    """SIGKILL comes stop_grace_period after SIGTERM; the service may take its deadline."""
    for name, spec in ours.items():
        grace = float(
            spec["environment"].get(
                "SHUTDOWN_GRACE_SEC", Settings.model_fields["shutdown_grace_sec"].default
            )
        )
        assert seconds(spec["stop_grace_period"]) >= 2 * grace + 1, name


def test_workers_are_not_health_checked_over_http(ours: dict[str, dict[str, Any]]) -> None:
    for name, spec in ours.items():
        disabled = spec.get("healthcheck", {}).get("disable", False)
        assert disabled == (role(spec) == "worker"), name


def test_the_image_runs_the_console_script(final_stage: list[Any]) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (entrypoint,) = instructions(final_stage, "ENTRYPOINT")
    (default_command,) = instructions(final_stage, "CMD")
    assert entrypoint.json  # exec form: signals reach the service, not a shell
    assert default_command.json
    assert list(entrypoint.value) == ["orchestrator"]
    assert pyproject["project"]["scripts"]["orchestrator"] == "orchestrator.cli:main"
    assert command_problem(list(default_command.value)) is None
    assert list(default_command.value) == ["serve"]


def test_the_image_runs_as_a_user_on_python_311_slim(final_stage: list[Any]) -> None:
    (base,) = instructions(final_stage, "FROM")
    assert base.value[0] == "python:3.11-slim"
    user = instructions(final_stage, "USER")[-1].value[0]
    assert user.partition(":")[0] not in ("root", "0")


def test_the_image_listens_on_every_interface_at_the_default_port(
    final_stage: list[Any],
) -> None:
    environment: dict[str, str] = {}
    for command in instructions(final_stage, "ENV"):
        environment.update(zip(command.value[::2], command.value[1::2], strict=True))
    assert not set(environment) - SETTING_NAMES - INTERPRETER_VARIABLES
    assert environment["HOST"] == "0.0.0.0"  # noqa: S104 - the point of a container image
    (exposed,) = instructions(final_stage, "EXPOSE")
    assert list(exposed.value) == [str(Settings.model_fields["port"].default)]


def test_the_image_health_check_asks_readiness_with_the_standard_library(
    final_stage: list[Any],
) -> None:
    (check,) = instructions(final_stage, "HEALTHCHECK")
    kind, program, flag, source = check.value
    assert (kind, program, flag) == ("CMD", "python", "-c")
    compile(source, "<HEALTHCHECK>", "exec")
    assert "urllib.request" in source
    path = re.search(r"'(/health/\w+)'", source)
    assert path
    assert path.group(1) == "/health/ready"
    assert any(route.path == path.group(1) for route in ROUTES)


def test_the_build_context_holds_what_the_builder_copies() -> None:
    """.dockerignore is an allowlist: each COPY of the builder stage needs its exception."""
    rules = dockerignore_rules()
    assert rules[0] == "*"
    for source, _ in builder_copies():
        assert f"!{source}" in rules, f"{source} is copied but not in the build context"
