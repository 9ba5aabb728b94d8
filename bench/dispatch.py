"""Dispatch benchmark: no-op task round trips through our dispatcher and through its peers.

``python -m bench.dispatch`` starts one private Valkey, then for each peer (task-queue library)
and worker count: pre-fills ``--tasks`` no-op tasks with the library's own enqueue API, starts
the worker processes with the library's own CLI or runner, and times from the first worker
start until every result is collected. It prints tasks/s (median of ``--repeat`` runs), the
workers' peak RSS and our ratio to each peer, and writes the figures as JSON under
``bench/results/``. The peer libraries are installed into this venv from
``bench/requirements-peers.txt`` when missing (never the project's own dependencies).

Peers are the ``PEERS`` table below, each a module in ``bench/peers/dispatch/``; ours is
``run_ours``. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import redis
import structlog

from bench.http import RESULTS_DIR, ROOT, _machine, _raise_exit, name_list
from bench.peers.dispatch import (
    arq_peer,
    bullmq_peer,
    celery_peer,
    dramatiq_peer,
    ours,
    raw_streams,
    taskiq_peer,
)
from bench.peers.dispatch.harness import PeerRunError, PeerUnavailable, Run
from orchestrator.store.embedded import EmbeddedServer

__all__ = ["PEERS", "Peer", "PeerUnavailable", "Run", "main", "run_ours"]

REQUIREMENTS = ROOT / "bench" / "requirements-peers.txt"
OURS = "ours"
CEILING = "raw-streams"
TARGET_VS_FASTEST = 5.0  # ours >= 5x the fastest library peer ...
TARGET_VS_CEILING = 0.5  # ... and >= 50 % of the raw streams round trip, in the same run
PIP_TIMEOUT_S = 900


# --- ours ------------------------------------------------------------------------------------


def run_ours(redis_url: str, tasks: int, workers: int) -> Run:
    """Ours: dispatch, worker processes and collector (bench/peers/dispatch/ours.py)."""
    return ours.run(redis_url, tasks, workers)


# --- peers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    """One dispatcher under test. ``requires`` are import names installed from REQUIREMENTS."""

    name: str
    run: Callable[[str, int, int], Run]
    description: str
    requires: tuple[str, ...] = ()
    library: bool = True  # a task-queue library ("fastest peer" is the fastest of these)


PEERS: tuple[Peer, ...] = (
    Peer(OURS, run_ours, "orchestrator dispatch + `orchestrator worker` processes", library=False),
    Peer(
        CEILING,
        raw_streams.run,
        "redis-py streams: XADD -> XREADGROUP -> XADD result + XACK -> XREAD (the ceiling)",
        library=False,
    ),
    Peer(
        "raw-streams-no-results",
        raw_streams.run_without_results,
        "redis-py streams without results: XADD -> XREADGROUP -> XACK",
        library=False,
    ),
    Peer("dramatiq", dramatiq_peer.run, "dramatiq, Redis broker + Results", ("dramatiq",)),
    Peer(
        "taskiq",
        taskiq_peer.run,
        "taskiq, taskiq-redis stream broker + result backend",
        ("taskiq", "taskiq_redis"),
    ),
    Peer("bullmq", bullmq_peer.run, "bullmq (Python), completed count", ("bullmq",)),
    Peer("arq", arq_peer.run, "arq, job results", ("arq",)),
    Peer("celery", celery_peer.run, "Celery, Redis broker + Redis result backend", ("celery",)),
)


@dataclass
class Row:
    """The median of one peer's runs at one worker count."""

    peer: str
    workers: int
    runs: int
    tasks_per_s: float
    drain_tasks_per_s: float | None
    worker_rss_peak_mb: float
    first_result_s: float | None
    ours_ratio: float | None = None


@dataclass
class Bench:
    tasks: int
    workers: list[int]
    repeat: int
    redis_url: str = ""
    valkey_version: str | None = None
    runs: list[Run] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def skip(self, peer: str, reason: str) -> None:
        self.skipped[peer] = reason
        print(f"  {peer}: {reason}", flush=True)


# --- peer libraries ----------------------------------------------------------------------------


def _installed(peer: Peer) -> bool:
    return all(importlib.util.find_spec(name) is not None for name in peer.requires)


def _constraints(workdir: Path) -> Path:
    """Every distribution installed now, pinned: installing a peer never moves one of them."""
    own = {name.lower() for name in metadata.packages_distributions().get("orchestrator", [])}
    lines = sorted(
        {
            f"{dist.metadata['Name']}=={dist.version}"
            for dist in metadata.distributions()
            if dist.metadata["Name"] and dist.metadata["Name"].lower() not in own
        }
    )
    path = workdir / "constraints.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def _pip(requirements: Path, constraints: Path) -> str | None:
    """Install; None on success, else the tail of pip's output."""
    argv = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    try:
        done = subprocess.run(
            [*argv, "-r", str(requirements), "-c", str(constraints)],
            capture_output=True,
            text=True,
            timeout=PIP_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"pip did not finish within {PIP_TIMEOUT_S}s"
    if done.returncode == 0:
        return None
    errors = [line for line in done.stderr.splitlines() if "ERROR" in line or "error" in line]
    return " | ".join((errors or done.stderr.strip().splitlines() or ["(no output)"])[-3:])


def _sections(text: str) -> dict[str, list[str]]:
    """Requirement lines per ``# peer: NAME`` header of REQUIREMENTS."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in text.splitlines():
        header = re.match(r"#\s*peer:\s*([\w-]+)", raw.strip())
        if header:
            current = sections.setdefault(header.group(1), [])
        elif raw.strip() and not raw.lstrip().startswith("#") and current is not None:
            current.append(raw.strip())
    return sections


def ensure_peer_libraries(bench: Bench, peers: Sequence[Peer], workdir: Path) -> list[Peer]:
    """The peers that can run: missing libraries installed from REQUIREMENTS, else skipped."""
    missing = [peer for peer in peers if not _installed(peer)]
    if missing:
        names = ", ".join(peer.name for peer in missing)
        rel = REQUIREMENTS.relative_to(ROOT) if REQUIREMENTS.is_relative_to(ROOT) else REQUIREMENTS
        print(f"installing peer libraries for {names}: pip install -r {rel} ...", flush=True)
        constraints = _constraints(workdir)
        failure = _pip(REQUIREMENTS, constraints)
        importlib.invalidate_caches()
        if failure is not None:  # one peer's conflict must not cost the others: one at a time
            sections = _sections(REQUIREMENTS.read_text())
            for peer in missing:
                if _installed(peer):
                    continue
                lines = sections.get(peer.name)
                if not lines:
                    continue
                single = workdir / f"requirements-{peer.name}.txt"
                single.write_text("\n".join(lines) + "\n")
                failure = _pip(single, constraints)
                importlib.invalidate_caches()
                if failure is not None:
                    bench.skip(peer.name, f"pip install failed: {failure}")
    ready = []
    for peer in peers:
        if peer.name in bench.skipped:
            continue
        if _installed(peer):
            ready.append(peer)
        else:
            bench.skip(peer.name, f"{', '.join(peer.requires)} not installed after pip install")
    return ready


# --- runs --------------------------------------------------------------------------------------


def _reason(error: BaseException) -> str:
    if isinstance(error, PeerUnavailable | PeerRunError):
        return str(error)
    text = str(error).strip()
    message = f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__
    where = traceback.extract_tb(error.__traceback__)[-1:]
    return message + (f" (at {Path(where[0].filename).name}:{where[0].lineno})" if where else "")


def run_one(bench: Bench, client: redis.Redis, peer: Peer, workers: int) -> bool:
    """One drain; False when the peer is out of the run (skipped with its reason)."""
    client.flushall()
    try:
        measured = peer.run(bench.redis_url, bench.tasks, workers)
    except PeerUnavailable as error:
        bench.skip(peer.name, f"skipped: {error}")
        return False
    except Exception as error:  # any failure of a peer skips that peer only
        bench.skip(peer.name, f"failed with {workers} worker(s): {_reason(error)}")
        return False
    bench.runs.append(measured)
    first = f"{measured.first_result_s:.2f}s" if measured.first_result_s is not None else "-"
    print(
        f"  {peer.name:<24} w={workers}  {measured.tasks_per_s:>9,.0f} tasks/s"
        f"  {measured.seconds:6.2f}s  first result {first:>6}"
        f"  worker RSS {measured.worker_rss_peak_bytes / 2**20:6.1f} MB"
        f" ({measured.worker_processes} proc)",
        flush=True,
    )
    return True


def execute(bench: Bench, peers: Sequence[Peer], workdir: Path) -> None:
    valkey = EmbeddedServer(workdir / "valkey", appendonly=False)
    valkey.start()
    try:
        bench.redis_url = valkey.url
        bench.valkey_version = _valkey_version(valkey.url)
        client = redis.Redis.from_url(valkey.url)
        active = list(peers)
        try:
            for repeat in range(1, bench.repeat + 1):  # interleaved: drift hits every peer alike
                print(f"round {repeat}/{bench.repeat}", flush=True)
                for peer in list(active):
                    for workers in bench.workers:
                        if not run_one(bench, client, peer, workers):
                            active.remove(peer)
                            break
        finally:
            client.close()
    finally:
        valkey.stop()


# --- report ------------------------------------------------------------------------------------


def summarize(bench: Bench) -> list[Row]:
    order = {peer.name: i for i, peer in enumerate(PEERS)}
    rows = []
    for name, workers in sorted(
        {(run.peer, run.workers) for run in bench.runs}, key=lambda key: (order[key[0]], key[1])
    ):
        runs = [run for run in bench.runs if run.peer == name and run.workers == workers]
        firsts = [run.first_result_s for run in runs if run.first_result_s is not None]
        drains = [run.drain_tasks_per_s for run in runs if run.drain_tasks_per_s is not None]
        rows.append(
            Row(
                peer=name,
                workers=workers,
                runs=len(runs),
                tasks_per_s=statistics.median(run.tasks_per_s for run in runs),
                drain_tasks_per_s=statistics.median(drains) if drains else None,
                worker_rss_peak_mb=max(run.worker_rss_peak_bytes for run in runs) / 2**20,
                first_result_s=statistics.median(firsts) if firsts else None,
            )
        )
    ours = {row.workers: row.tasks_per_s for row in rows if row.peer == OURS}
    for row in rows:
        if row.peer != OURS and row.workers in ours and row.tasks_per_s > 0:
            row.ours_ratio = ours[row.workers] / row.tasks_per_s
    return rows


def format_table(rows: Sequence[Row]) -> str:
    header = (
        "peer",
        "workers",
        "tasks/s",
        "worker RSS MB",
        "ours ÷ peer",
        "first result s",
        "drain tasks/s",
    )
    cells = [header]
    cells.extend(
        (
            row.peer,
            str(row.workers),
            f"{row.tasks_per_s:,.0f}",
            f"{row.worker_rss_peak_mb:.1f}",
            f"{row.ours_ratio:.2f}" if row.ours_ratio is not None else "-",
            f"{row.first_result_s:.2f}" if row.first_result_s is not None else "-",
            f"{row.drain_tasks_per_s:,.0f}" if row.drain_tasks_per_s is not None else "-",
        )
        for row in rows
    )
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        )
        for line in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _drain(row: Row) -> float:
    return row.drain_tasks_per_s if row.drain_tasks_per_s is not None else row.tasks_per_s


def verdicts(rows: Sequence[Row]) -> list[str]:
    """The issue's target, per worker count where ours ran: >= 5x fastest peer, >= 50 % ceiling,
    judged on the drain rate (first result to last), as the issue's figures were measured: the
    wall-clock rate also counts each library's process start-up."""
    library = {peer.name for peer in PEERS if peer.library}
    lines = []
    for mine in (row for row in rows if row.peer == OURS):
        same = [row for row in rows if row.workers == mine.workers]
        peers = [row for row in same if row.peer in library]
        ceiling = next((row for row in same if row.peer == CEILING), None)
        parts = []
        if peers:
            fastest = max(peers, key=_drain)
            ratio = _drain(mine) / max(_drain(fastest), 1e-9)
            ok = "met" if ratio >= TARGET_VS_FASTEST else "NOT met"
            parts.append(f"{ratio:.1f}x the fastest peer ({fastest.peer}) — {ok}")
        if ceiling is not None:
            share = _drain(mine) / max(_drain(ceiling), 1e-9)
            ok = "met" if share >= TARGET_VS_CEILING else "NOT met"
            parts.append(f"{share:.0%} of {CEILING} — {ok}")
        if parts:
            lines.append(f"target, {mine.workers} worker(s): " + "; ".join(parts))
    return lines


def _versions() -> dict[str, str | None]:
    names = ("dramatiq", "taskiq", "taskiq-redis", "bullmq", "arq", "celery", "kombu")
    found: dict[str, str | None] = {}
    for name in (*names, "redis", "hiredis", "psutil"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def write_results(bench: Bench, rows: Sequence[Row]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC)
    path = RESULTS_DIR / f"dispatch-{stamp:%Y%m%dT%H%M%SZ}.json"
    machine: dict[str, Any] = _machine()
    machine["versions"] = _versions()
    machine["valkey"] = bench.valkey_version
    document = {
        "benchmark": "dispatch",
        "finished_at": stamp.isoformat(timespec="seconds"),
        "options": {"tasks": bench.tasks, "workers": bench.workers, "repeat": bench.repeat},
        "machine": machine,
        "summary": [asdict(row) for row in rows],
        "runs": [
            asdict(run)
            | {"tasks_per_s": run.tasks_per_s, "drain_tasks_per_s": run.drain_tasks_per_s}
            for run in bench.runs
        ],
        "skipped": bench.skipped,
    }
    text = json.dumps(document, indent=2) + "\n"
    path.write_text(text)
    (RESULTS_DIR / "dispatch-latest.json").write_text(text)
    return path


# --- command line ------------------------------------------------------------------------------


def _worker_counts(value: str) -> list[int]:
    try:
        counts = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("comma-separated worker counts >= 1, e.g. 1,2")
    return sorted(set(counts))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    names = [peer.name for peer in PEERS]
    parser = argparse.ArgumentParser(
        prog="python -m bench.dispatch",
        description="No-op task round trips/s through our dispatcher and its task-queue peers.",
    )
    parser.add_argument("--tasks", type=int, default=20000, help="tasks per drain (default: 20000)")
    parser.add_argument(
        "--workers",
        type=_worker_counts,
        default=[1, 2],
        help="comma-separated worker process counts (default: 1,2)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="drains per peer and worker count (default: 3)"
    )
    parser.add_argument(
        "--peers",
        type=name_list([peer.name for peer in PEERS]),
        default=names,
        help=f"comma-separated subset of: {', '.join(names)} (default: all)",
    )
    args = parser.parse_args(argv)
    if args.tasks < 1 or args.repeat < 1:
        parser.error("--tasks and --repeat must be >= 1")
    return args


def _valkey_version(url: str) -> str | None:
    client = redis.Redis.from_url(url)
    try:
        info: dict[str, Any] = client.info("server")
        version = info.get("valkey_version") or info.get("redis_version")
        return str(version) if version else None
    except redis.RedisError:
        return None
    finally:
        client.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    peers = [peer for peer in PEERS if peer.name in args.peers]
    bench = Bench(args.tasks, args.workers, args.repeat)
    workers = ",".join(map(str, args.workers))
    print(
        f"dispatch benchmark: {args.tasks:,} no-op tasks per drain, {workers} worker process(es),"
        f" median of {args.repeat}; one Valkey, FLUSHALL before every drain, nothing pinned",
        flush=True,
    )
    previous = signal.signal(signal.SIGTERM, _raise_exit)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as workdir:
            ready = ensure_peer_libraries(bench, peers, Path(workdir))
            execute(bench, ready, Path(workdir))
    except KeyboardInterrupt:
        print("\ninterrupted: workers and Valkey stopped; no figures written", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    rows = summarize(bench)
    print()
    print(format_table(rows))
    for line in verdicts(rows):
        print(line)
    for peer, reason in bench.skipped.items():
        print(f"{peer}: {reason}")
    path = write_results(bench, rows)
    print(f"\nfigures written to {path.relative_to(ROOT)}")
    return 0 if bench.runs else 1


if __name__ == "__main__":
    sys.exit(main())
