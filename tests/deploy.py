"""The deployment files at the repository's root — ``Dockerfile``, ``.dockerignore``,
``compose.yaml`` — read for the tests that check them against the code."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import dockerfile
import yaml

ROOT = Path(__file__).parent.parent
PACKAGE = "src/orchestrator"


def read_compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    return loaded


def our_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run the image this repository builds (orchestrators and workers)."""
    return {name: spec for name, spec in compose["services"].items() if "build" in spec}


def cluster_nodes(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run a Valkey Cluster node."""
    return {
        name: spec
        for name, spec in compose["services"].items()
        if "--cluster-enabled" in spec.get("command", ())
    }


def read_stages() -> list[list[Any]]:
    """The Dockerfile's instructions (``dockerfile.Command``), one list per build stage."""
    stages: list[list[Any]] = []
    for command in dockerfile.parse_file(str(ROOT / "Dockerfile")):
        if command.cmd == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(command)
    return stages


def instructions(stage: list[Any], name: str) -> list[Any]:
    return [command for command in stage if command.cmd == name]


def builder_copies() -> list[tuple[str, PurePosixPath]]:
    """``(source, destination)`` of every file or folder the first stage copies from the build
    context, the destination relative to the stage's working directory."""
    copies = []
    for command in instructions(read_stages()[0], "COPY"):
        if any(flag.startswith("--from") for flag in command.flags):
            continue
        *sources, target = command.value
        for source in sources:
            name = PurePosixPath(source).name
            into = target.endswith("/") or len(sources) > 1
            destination = PurePosixPath(target) / name if into else PurePosixPath(target)
            copies.append((source.rstrip("/").removeprefix("./"), destination))
    return copies


def dockerignore_rules() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]
