"""Mentions benchmark: mentions accepted per second over HTTP, and analysed per second.

``python -m bench.mentions`` starts a private Valkey (CPU 1) and the service (``orchestrator
serve``, CPU 0), registers a brand, and sends the demo dataset's mentions (repeated under new ids
up to ``--mentions``) in batches of 500 from one client, one request at a time (the client on
CPU 1 with Valkey); it checks that every mention was accepted and is in the stream. Then it runs
the reference analyze handler's analysis (``Analyzer.analyze``: sentiment, embeddings,
clusters, topics) on chunks of 100 demo mentions in this process, pinned to CPU 0: the CPU work
of one worker process per mention. It prints one table and writes JSON under ``bench/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from orchestrator.analysis import Analyzer, BrandTerms
from orchestrator.demo.load import brand_specs, mentions_by_brand
from orchestrator.mentions import Mention
from orchestrator.semantic import load_semantic
from orchestrator.store.embedded import EmbeddedServer, free_port

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SERVICE_CPU, LOAD_CPU = 0, 1
BATCH = 500


def _payloads(count: int) -> list[bytes]:
    """``count`` mentions of the demo as NDJSON batches, with ids made unique per copy."""
    demo = [json.loads(line) for lines in mentions_by_brand().values() for line in lines]
    lines = []
    for n in range(count):
        mention = dict(demo[n % len(demo)], id=f"m{n}")
        lines.append(json.dumps(mention).encode())
    return [b"\n".join(lines[i : i + BATCH]) for i in range(0, count, BATCH)]


def _service(redis_url: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "REDIS_URL": redis_url, "PORT": str(port), "LOG_LEVEL": "warn"}
    argv = [sys.executable, "-m", "orchestrator", "serve"]
    if {SERVICE_CPU, LOAD_CPU} <= os.sched_getaffinity(0):
        argv = ["taskset", "-c", str(SERVICE_CPU), *argv]
    log = (workdir / "service.log").open("wb")
    process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the service did not become ready; see {workdir / 'service.log'}")


def ingest(redis_url: str, count: int) -> dict[str, Any]:
    batches = _payloads(count)
    with tempfile.TemporaryDirectory() as workdir:
        process, url = _service(redis_url, Path(workdir))
        try:
            with httpx.Client(base_url=url, timeout=30) as client:
                client.post("/v1/brands", json={"name": "Bench", "keywords": ["bench"]})
                headers = {"content-type": "application/x-ndjson"}
                client.post("/v1/brands/bench/mentions", content=batches[0], headers=headers)
                client.delete("/v1/brands/bench", params={"purge": "true"})
                client.post("/v1/brands", json={"name": "Bench", "keywords": ["bench"]})
                accepted = 0
                started = time.perf_counter()
                for batch in batches:
                    answer = client.post(
                        "/v1/brands/bench/mentions", content=batch, headers=headers
                    )
                    accepted += answer.json()["accepted"]
                seconds = time.perf_counter() - started
                stored = client.get("/v1/tasks/stats").status_code == 200
        finally:
            process.terminate()
            process.wait(30)
    return {
        "mentions": count,
        "accepted": accepted,
        "seconds": round(seconds, 2),
        "per_s": round(accepted / seconds),
        "exact": accepted == count and stored,
    }


def analyse(chunks: int, size: int, *, semantic: bool = False) -> dict[str, Any]:
    if (os.cpu_count() or 1) > SERVICE_CPU:
        os.sched_setaffinity(0, {SERVICE_CPU})  # the ingest run left this process on LOAD_CPU
    analyzer = Analyzer(semantic=load_semantic() if semantic else None)
    specs = {str(spec.slug): spec for spec in brand_specs()}
    work: list[tuple[str, BrandTerms, list[Mention]]] = []
    for slug, lines in mentions_by_brand().items():
        spec = specs[slug]
        terms = BrandTerms((slug, spec.name, *spec.keywords))
        mentions = [Mention(**_fields(json.loads(line))) for line in lines]
        work += [(slug, terms, mentions[i : i + size]) for i in range(0, len(mentions), size)]
    work = work[:chunks]
    analyzer.analyze("warm-up", *work[0])
    started = time.perf_counter()
    analysed = sum(
        len(analyzer.analyze(f"c{i}", slug, terms, ms)["mentions"])
        for i, (slug, terms, ms) in enumerate(work)
    )
    seconds = time.perf_counter() - started
    return {
        "embedding": analyzer.model,
        "chunk_size": size,
        "chunks": len(work),
        "mentions": analysed,
        "seconds": round(seconds, 2),
        "per_s": round(analysed / seconds),
    }


def _ingest_on_private_store(count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data:
        server = EmbeddedServer(Path(data), appendonly=False)
        server.start()
        try:
            if {SERVICE_CPU, LOAD_CPU} <= os.sched_getaffinity(0):
                os.sched_setaffinity(server.pid or 0, {LOAD_CPU})
                os.sched_setaffinity(0, {LOAD_CPU})
            return ingest(server.url, count)
        finally:
            server.stop()


def _fields(document: dict[str, Any]) -> dict[str, Any]:
    created = document.get("createdAt")
    return {
        "id": document["id"],
        "text": document["text"],
        "source": document.get("source", "api"),
        "created_at": datetime.fromisoformat(created) if created else None,
    }


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mentions", description=__doc__)
    parser.add_argument("--mentions", type=int, default=100_000, help="mentions sent over HTTP")
    parser.add_argument("--chunks", type=int, default=50, help="chunks analysed per size")
    parser.add_argument("--skip-ingest", action="store_true", help="only the analysis")
    args = parser.parse_args(argv)
    ingested: dict[str, Any] = {"exact": True}
    if not args.skip_ingest:
        ingested = _ingest_on_private_store(args.mentions)
        print(f"ingest over HTTP (batches of {BATCH}, one client): "
              f"{ingested['per_s']:,} mentions/s ({ingested['accepted']:,} of "
              f"{ingested['mentions']:,} accepted in {ingested['seconds']} s)")  # fmt: skip
    analysed = [analyse(args.chunks, size) for size in (100, 200)]
    analysed.append(analyse(min(args.chunks, 20), 100, semantic=True))
    for figures in analysed:
        print(f"analysis ({figures['embedding']}, chunks of {figures['chunk_size']}): "
              f"{figures['per_s']:,} mentions/s ({figures['mentions']:,} in {figures['seconds']} s)")  # fmt: skip  # noqa: E501
    report = {"at": datetime.now(UTC).isoformat(), "ingest": ingested, "analyse": analysed}
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    (RESULTS_DIR / f"mentions-{stamp}.json").write_text(json.dumps(report, indent=2))
    return 0 if ingested["exact"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
