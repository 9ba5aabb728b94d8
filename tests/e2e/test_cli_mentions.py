"""``orchestrator mentions import`` and ``tail`` as subprocesses against a real service."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator.store.embedded import EmbeddedServer
from tests.harness import ServiceProcess


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, valkey: EmbeddedServer
) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("cli-mentions")
    process = ServiceProcess(workdir, {"REDIS_URL": valkey.url}).start().wait_ready()
    yield process
    process.stop()


def cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator", "mentions", *args, "--url", url],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert "Traceback" not in result.stderr + result.stdout
    return result


def test_import_counts_accepted_duplicates_and_rejected_lines(
    api: httpx.Client, service: ServiceProcess, tmp_path: Path
) -> None:
    assert api.post("/v1/brands", json={"name": "Nike", "keywords": ["nike"]}).status_code == 201
    lines = [json.dumps({"id": f"m{n}", "text": f"nike {n}"}) for n in range(1200)]
    lines[5] = json.dumps({"id": "m5", "text": ""})
    lines[700] = "{not json"
    lines.append(json.dumps({"id": "m1", "text": "nike again"}))  # a duplicate
    file = tmp_path / "mentions.jsonl"
    file.write_text("\n".join(lines) + "\n")

    result = cli("import", str(file), "--brand", "nike", url=service.url)
    assert result.returncode == 1
    assert "nike: 1198 accepted, 1 duplicates, 2 rejected" in result.stdout
    assert "line 6: text:" in result.stderr
    assert "line 701: mention: malformed JSON" in result.stderr
    again = cli("import", str(file), "--brand", "nike", url=service.url)
    assert "nike: 0 accepted, 1199 duplicates, 2 rejected" in again.stdout


def test_import_to_an_unknown_brand_fails_with_the_servers_message(
    api: httpx.Client, service: ServiceProcess, tmp_path: Path
) -> None:
    file = tmp_path / "one.jsonl"
    file.write_text('{"id": "a", "text": "hello"}\n')
    result = cli("import", str(file), "--brand", "ghost", url=service.url)
    assert result.returncode == 1
    assert "ghost" in result.stderr


def test_tail_prints_new_mentions_as_they_arrive(
    api: httpx.Client, service: ServiceProcess
) -> None:
    api.post("/v1/brands", json={"name": "Nike", "keywords": ["nike"]})
    api.post("/v1/brands/nike/mentions", json=[{"id": "old", "text": "nike before"}])
    tail = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "mentions", "tail", "nike", "--url", service.url,
         "--every", "0.2"],
        stdout=subprocess.PIPE, text=True, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    try:
        time.sleep(2.0)  # started and following (not a timing assertion: the order is)
        api.post("/v1/brands/nike/mentions", json=[{"id": "new", "text": "nike after"}])
        assert tail.stdout is not None
        line = tail.stdout.readline()
        assert json.loads(line)["id"] == "new"
    finally:
        tail.terminate()
        tail.wait(10)
        if tail.stdout is not None:
            tail.stdout.close()
