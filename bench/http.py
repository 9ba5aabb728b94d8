"""HTTP benchmark: each hot route, on our service and on its peers, in one run.

``python -m bench.http`` starts a private Valkey, then each peer in turn as a real process
(pinned to CPU 0), waits until it is ready, warms it up and drives every route it serves with
``wrk`` (pinned to CPU 1, with Valkey), over ``--rounds`` interleaved rounds (peer after peer,
round after round, so that drift on a shared machine hits every peer alike). It prints the
median round's requests/s, p50 and p99 latency and the ratio to the Fastify peer, and writes
the same figures, and every round's, as JSON under ``bench/results/``.

Peers and routes are the two tables below; a new hot route is one line in ``ROUTES``.
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import logging
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

import msgspec
import structlog
from redis.asyncio import Redis

from orchestrator.brand import BrandCreate, new_brand, now
from orchestrator.brand_view import AggregateView, ClusterView, SentimentView, TopicView
from orchestrator.chunk_result import Representative
from orchestrator.keys import Keys
from orchestrator.metrics import Metrics
from orchestrator.registry import Registry
from orchestrator.store.embedded import EmbeddedServer, free_port
from orchestrator.summarize import grounded

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
LOGS_DIR = RESULTS_DIR / "logs"
FASTIFY_DIR = ROOT / "bench" / "peers" / "fastify"
VENV_BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
SERVER_CPU = 0
LOAD_CPU = 1  # wrk and Valkey share it, so the server's core does only the server's work
BASELINE = "fastify"
UVICORN_FLAGS = (
    "--loop",
    "uvloop",
    "--http",
    "httptools",
    "--no-access-log",
    "--log-level",
    "error",
)
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
LOG_TAIL_LINES = 12


class PeerError(Exception):
    """A peer could not be prepared or started; the run goes on without it."""


class BenchError(Exception):
    """A measurement failed."""


@dataclass(frozen=True)
class Peer:
    """One server under test: how to start it on a port and how to tell it is ready."""

    name: str
    argv: Callable[[int], list[str]]
    ready_path: str = "/health"
    prepare: Callable[[], None] | None = None
    description: str = ""


@dataclass(frozen=True)
class Route:
    """One request shape driven by wrk. ``peers=None`` means every peer serves it."""

    name: str
    method: str
    path: str
    body: bytes | None = None
    content_type: str = "application/json"
    expect_status: int = 200
    peers: tuple[str, ...] | None = None

    def served_by(self, peer: str) -> bool:
        return self.peers is None or peer in self.peers


def _npm_ci() -> None:
    if shutil.which("node") is None:
        raise PeerError("node is not installed (apt-get install -y nodejs npm)")
    declared = json.loads((FASTIFY_DIR / "package.json").read_text())["dependencies"]
    modules = FASTIFY_DIR / "node_modules"
    if all((modules / name / "package.json").is_file() for name in declared):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise PeerError("npm is not installed and bench/peers/fastify/node_modules is incomplete")
    print(f"  npm ci in {FASTIFY_DIR.relative_to(ROOT)} ...", flush=True)
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=FASTIFY_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise PeerError(f"npm ci failed ({done.returncode}): {_tail(done.stderr)}")


APP_FACTORY = "orchestrator.app.factory:app_from_environment"

PEERS: tuple[Peer, ...] = (
    Peer(
        "fastify",
        lambda port: ["node", str(FASTIFY_DIR / "server.js")],
        prepare=_npm_ci,
        description="Fastify 4.28 + ioredis + helmet (the original stack)",
    ),
    Peer(
        "fastify-bare",
        lambda port: ["env", "HELMET=0", "node", str(FASTIFY_DIR / "server.js")],
        prepare=_npm_ci,
        description="the same without helmet's security headers (ours always sends them)",
    ),
    Peer(
        "ours",
        lambda port: [str(VENV_BIN / "orchestrator"), "serve"],
        ready_path="/health/ready",
        description="the service: FastAPI app, lean hot routes, embedded granian + redis.asyncio",
    ),
    Peer(
        "ours-uvicorn",
        lambda port: [
            *(sys.executable, "-m", "uvicorn", "--factory", APP_FACTORY),
            *("--host", HOST, "--port", str(port), *UVICORN_FLAGS),
        ],
        ready_path="/health/ready",
        description="the same app on uvicorn (uvloop, httptools): the server we did not pick",
    ),
    Peer(
        "starlette",
        lambda port: [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.peers.starlette_app:app",
            "--host",
            HOST,
            "--port",
            str(port),
            *UVICORN_FLAGS,
        ],
        description="bare Starlette + msgspec on uvicorn: the framework-cost floor",
    ),
)

ROUTES: tuple[Route, ...] = (
    Route("health", "GET", "/health"),
    Route("summary", "GET", "/v1/brands/bench/summary", peers=("fastify", "fastify-bare", "ours")),
    # Route("mentions", "POST", "/v1/brands/bench/mentions", body=MENTIONS, expect_status=202,
    #       peers=("fastify", "ours")),
)


@dataclass
class Measurement:
    route: str
    peer: str
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    errors: dict[str, int]
    ratio: float | None = None
    rounds: int = 1

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


@dataclass
class Run:
    """Options and machine facts shared by every step of one run."""

    wrk: str
    duration: int
    warmup: int
    connections: int
    pin: bool
    workdir: Path
    rounds: int = 1
    redis_url: str = ""
    measurements: list[Measurement] = field(default_factory=list)
    per_round: list[Measurement] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def pinned(self, cpu: int, argv: list[str]) -> list[str]:
        return ["taskset", "-c", str(cpu), *argv] if self.pin else argv

    def skip(self, peer: str, route: str, reason: str) -> None:
        self.skipped.append({"peer": peer, "route": route, "reason": reason})
        what = f"peer {peer}" if route == "*" else f"{route} on {peer}"
        print(f"  SKIP {what}: {reason}", flush=True)


# --- processes -------------------------------------------------------------------------------


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """preexec_fn: the peer gets SIGTERM if the harness dies without cleaning up."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) if kept else "(no output)"


def _peer_env(port: int, redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PORT=str(port),
        HOST=HOST,
        REDIS_URL=redis_url,
        LOG_LEVEL="error",
        NODE_ENV="production",
        PYTHONUNBUFFERED="1",
    )
    return env


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the peer's process group, then SIGKILL it after STOP_TIMEOUT_S."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            print(f"  peer pid {process.pid} ignored SIGTERM; killing it", flush=True)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # also any child it left behind
    process.wait()


def _status(url: str, method: str = "GET", body: bytes | None = None, ctype: str = "") -> int:
    request = urllib.request.Request(url, data=body, method=method)  # noqa: S310 - loopback URL
    if body is not None:
        request.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            response.read()
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code


def _wait_ready(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = log_path.read_text(errors="replace")
            raise PeerError(f"exited with {process.returncode}: {_tail(log)}")
        try:
            status = _status(url)
        except OSError as error:
            last = str(error)
        else:
            if status == 200:
                return
            last = f"HTTP {status}"
        time.sleep(0.1)
    raise PeerError(f"{url} not ready within {READY_TIMEOUT_S:.0f}s (last: {last})")


@contextlib.contextmanager
def running_peer(run: Run, peer: Peer) -> Iterator[str]:
    """Start ``peer`` pinned to SERVER_CPU, yield its base URL, always stop it."""
    if peer.prepare is not None:
        peer.prepare()
    port = free_port(HOST)
    argv = peer.argv(port)
    if shutil.which(argv[0]) is None:
        raise PeerError(f"{argv[0]} not found")
    log_path = LOGS_DIR / f"{peer.name}.log"  # kept after the run, to see why a peer was slow
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            run.pinned(SERVER_CPU, argv),
            cwd=ROOT,
            env=_peer_env(port, run.redis_url),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the harness only; it stops peers in order
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - spawned from the main thread
        )
    try:
        base = f"http://{HOST}:{port}"
        _wait_ready(process, base + peer.ready_path, log_path)
        yield base
    finally:
        stop_process(process)


def _pin_all_threads(pid: int, cpu: int) -> None:
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.sched_setaffinity(int(task.name), {cpu})


# --- wrk ---------------------------------------------------------------------------------------

_LUA = """\
-- generated by bench/http.py for one route
wrk.method = {method}
local body_path = {body_path}
if body_path ~= "" then
  local f = assert(io.open(body_path, "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = {content_type}
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {{"requests":%.0f,"duration_us":%.0f,'
      .. '"errors":{{"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f}},'
      .. '"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,"mean_us":%.1f,"max_us":%.1f}}\\n',
    summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
"""
_MARKER = "BENCH_JSON "


def _lua_script(run: Run, route: Route) -> Path:
    body_path = ""
    if route.body is not None:
        body_file = run.workdir / f"{route.name}.body"
        body_file.write_bytes(route.body)
        body_path = str(body_file)
    script = run.workdir / f"{route.name}.lua"
    script.write_text(
        _LUA.format(
            method=json.dumps(route.method),
            body_path=json.dumps(body_path),
            content_type=json.dumps(route.content_type),
        )
    )
    return script


def run_wrk(run: Run, url: str, script: Path, seconds: int) -> dict[str, Any]:
    load = [run.wrk, "-t1", f"-c{run.connections}", f"-d{seconds}s", "--timeout", "5s"]
    argv = run.pinned(LOAD_CPU, [*load, "-s", str(script), url])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        raise BenchError(f"wrk exited with {done.returncode}: {_tail(done.stderr + done.stdout)}")
    for line in done.stdout.splitlines():
        if line.startswith(_MARKER):
            parsed: dict[str, Any] = json.loads(line.removeprefix(_MARKER))
            return parsed
    raise BenchError(f"no figures in wrk output: {_tail(done.stdout)}")


def measure(run: Run, base: str, peer: Peer, route: Route) -> Measurement | None:
    url = base + route.path
    try:
        status = _status(url, route.method, route.body, route.content_type)
    except OSError as error:
        run.skip(peer.name, route.name, f"{route.method} {route.path} failed: {error}")
        return None
    if status != route.expect_status:
        reason = f"{route.method} {route.path} -> {status}, expected {route.expect_status}"
        run.skip(peer.name, route.name, reason)
        return None
    script = _lua_script(run, route)
    if run.warmup > 0:
        run_wrk(run, url, script, run.warmup)
    raw = run_wrk(run, url, script, run.duration)
    duration_s = raw["duration_us"] / 1e6
    result = Measurement(
        route=route.name,
        peer=peer.name,
        requests=int(raw["requests"]),
        duration_s=duration_s,
        rps=raw["requests"] / duration_s if duration_s else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        mean_ms=raw["mean_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        errors={kind: int(count) for kind, count in raw["errors"].items()},
    )
    print(
        f"  {route.name:<10} {peer.name:<10} {result.rps:>10,.0f} req/s"
        f"   p50 {result.p50_ms:6.2f} ms   p99 {result.p99_ms:6.2f} ms"
        + (f"   errors {result.errors}" if result.error_count else ""),
        flush=True,
    )
    return result


def bench_peer(run: Run, peer: Peer, routes: Sequence[Route]) -> None:
    print(f"peer {peer.name}: {peer.description}", flush=True)
    try:
        with running_peer(run, peer) as base:
            for route in routes:
                try:
                    measured = measure(run, base, peer, route)
                except BenchError as error:
                    run.skip(peer.name, route.name, str(error))
                    continue
                if measured is not None:
                    run.measurements.append(measured)
    except PeerError as error:
        run.skip(peer.name, "*", f"did not start: {error}")


# --- report ------------------------------------------------------------------------------------


def combined(measurements: Sequence[Measurement]) -> list[Measurement]:
    """One row per route and peer: the median round by requests/s (its latencies with it),
    requests and errors summed over the rounds."""
    groups: dict[tuple[str, str], list[Measurement]] = {}
    for m in measurements:
        groups.setdefault((m.route, m.peer), []).append(m)
    rows = []
    for group in groups.values():
        ranked = sorted(group, key=lambda m: m.rps)
        median = ranked[(len(ranked) - 1) // 2]
        errors: dict[str, int] = {}
        for m in group:
            for kind, count in m.errors.items():
                errors[kind] = errors.get(kind, 0) + count
        rows.append(replace(median, errors=errors, rounds=len(group)))
    return rows


def _order(measurements: list[Measurement]) -> None:
    """Group rows by route (in ROUTES order), peers in PEERS order, and fill the ratios."""
    route_rank = {route.name: i for i, route in enumerate(ROUTES)}
    peer_rank = {peer.name: i for i, peer in enumerate(PEERS)}
    measurements.sort(key=lambda m: (route_rank[m.route], peer_rank[m.peer]))
    baseline = {m.route: m.rps for m in measurements if m.peer == BASELINE}
    for m in measurements:
        base = baseline.get(m.route)
        m.ratio = m.rps / base if base else None


def format_table(measurements: Sequence[Measurement]) -> str:
    header = ("route", "peer", "req/s", "p50 ms", "p99 ms", f"vs {BASELINE}", "errors")
    rows = [header]
    rows.extend(
        (
            m.route,
            m.peer,
            f"{m.rps:,.0f}",
            f"{m.p50_ms:.2f}",
            f"{m.p99_ms:.2f}",
            f"{m.ratio:.2f}" if m.ratio is not None else "-",
            str(m.error_count),
        )
        for m in measurements
    )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _command_output(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0] if text else None


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _machine() -> dict[str, Any]:
    cpu_model = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    fastify_pkg = FASTIFY_DIR / "node_modules" / "fastify" / "package.json"
    fastify = json.loads(fastify_pkg.read_text())["version"] if fastify_pkg.is_file() else None
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "node": _command_output(["node", "--version"]),
        "wrk": _command_output(["wrk", "--version"]),
        "git_commit": _command_output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "git_dirty": _command_output(["git", "-C", str(ROOT), "status", "--porcelain"]) is not None,
        "versions": {
            "fastify": fastify,
            **{
                name: _version(name)
                for name in ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "redis")
            },
            "msgspec": _version("msgspec"),
        },
    }


def write_results(run: Run) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC)
    path = RESULTS_DIR / f"http-{stamp:%Y%m%dT%H%M%SZ}.json"
    document = {
        "benchmark": "http",
        "finished_at": stamp.isoformat(timespec="seconds"),
        "options": {
            "duration_s": run.duration,
            "warmup_s": run.warmup,
            "connections": run.connections,
            "wrk_threads": 1,
            "pinned": {"server_cpu": SERVER_CPU, "load_cpu": LOAD_CPU} if run.pin else None,
        },
        "machine": _machine(),
        "results": [asdict(m) for m in run.measurements],
        "rounds": [asdict(m) for m in run.per_round],
        "skipped": run.skipped,
    }
    text = json.dumps(document, indent=2) + "\n"
    path.write_text(text)
    (RESULTS_DIR / "http-latest.json").write_text(text)
    return path


# --- command line ------------------------------------------------------------------------------


def ensure_wrk() -> str | None:
    """Path of wrk; installs it with apt-get when running as root, else None with a hint."""
    found = shutil.which("wrk")
    if found is not None:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get") is not None:
        print("wrk not found; installing it with apt-get (running as root) ...", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, check=False)
        found = shutil.which("wrk")
        if found is not None:
            return found
    print("wrk (the load generator) is not installed. Install it with:", file=sys.stderr)
    print("    apt-get install -y wrk", file=sys.stderr)
    return None


def can_pin() -> bool:
    if shutil.which("taskset") is None:
        print("warning: taskset not found; server and load generator are NOT pinned")
        return False
    if not {SERVER_CPU, LOAD_CPU} <= os.sched_getaffinity(0):
        print(f"warning: CPUs {SERVER_CPU} and {LOAD_CPU} not both available; NOT pinned")
        return False
    return True


def name_list(known: Sequence[str]) -> Callable[[str], list[str]]:
    """An argparse type: a comma-separated list of names, each one of ``known``."""

    def parse(value: str) -> list[str]:
        names = [name.strip() for name in value.split(",") if name.strip()]
        unknown = sorted(set(names) - set(known))
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(unknown) or '(empty)'}; choose from {', '.join(known)}"
            )
        return names

    return parse


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    peer_names = [peer.name for peer in PEERS]
    route_names = [route.name for route in ROUTES]
    parser = argparse.ArgumentParser(
        prog="python -m bench.http",
        description="Requests/s and latency of each hot route on our service and its peers.",
    )
    parser.add_argument(
        "--duration", type=int, default=10, help="seconds measured per route (default: 10)"
    )
    parser.add_argument(
        "--warmup", type=int, default=2, help="seconds of warm-up per route (default: 2)"
    )
    parser.add_argument(
        "--connections", type=int, default=64, help="open connections (default: 64)"
    )
    parser.add_argument(
        "--routes",
        type=name_list(route_names),
        default=route_names,
        help=f"comma-separated subset of: {', '.join(route_names)} (default: all)",
    )
    parser.add_argument(
        "--peers",
        type=name_list(peer_names),
        default=peer_names,
        help=f"comma-separated subset of: {', '.join(peer_names)} (default: all)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="interleaved rounds over the peers; the median round is reported (default: 3)",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    args = parser.parse_args(argv)
    if args.duration < 1 or args.connections < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--duration, --connections and --rounds must be >= 1, --warmup >= 0")
    return args


def _raise_exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the peers


def _execute(run: Run, peers: Sequence[Peer], routes: Sequence[Route]) -> None:
    valkey = EmbeddedServer(run.workdir / "valkey", appendonly=False)
    valkey.start()
    try:
        if run.pin and valkey.pid is not None:
            _pin_all_threads(valkey.pid, LOAD_CPU)
        run.redis_url = valkey.url
        asyncio.run(_seed(valkey.url))
        for number in range(1, run.rounds + 1):  # interleaved: drift hits every peer alike
            if run.rounds > 1:
                print(f"round {number}/{run.rounds}", flush=True)
            for peer in peers:
                served = [route for route in routes if route.served_by(peer.name)]
                if served:
                    bench_peer(run, peer, served)
    finally:
        valkey.stop()


async def _seed(redis_url: str) -> None:
    """What the routes read: brand ``bench`` and its published summary (about 2 KB)."""
    client = Redis.from_url(redis_url)
    try:
        registry = Registry(client, Keys(), Metrics())
        spec = BrandCreate(name="Bench Audio", slug="bench", keywords=["bench"])
        await registry.create(new_brand(spec, now()))
        await client.set(Keys.legacy_summary("bench"), _summary_document())
    finally:
        await client.aclose()


def _summary_document() -> bytes:
    at = datetime(2026, 11, 27, 14, tzinfo=UTC)
    themes = [
        ("battery life", -0.42, "The battery barely lasts a day since the last update"),
        ("sound quality", 0.71, "Honestly the best sound I have had from earbuds at this price"),
        ("charging case", -0.65, "The case stopped charging after two weeks, support is slow"),
        ("fit and comfort", 0.38, "Comfortable for a whole flight, no ear fatigue at all"),
        ("app update", -0.12, "The new app update moved every setting, took me ages to find EQ"),
    ]
    clusters = [
        ClusterView(
            id=f"c{i}", label=label, size=400 - i * 60, mentions_in_window=400 - i * 60,
            sentiment=score, spike=i == 2, sample_mention_ids=[f"m{i}-1"],
            representatives=[Representative(id=f"m{i}-1", text=quote, source="rss",
                                             url=f"https://news.example.com/{i}")],
            absorbed=[], model="tfidf-512", first_seen=at, last_seen=at,
        )
        for i, (label, score, quote) in enumerate(themes)
    ]  # fmt: skip
    view = AggregateView(
        brand="bench", window="all", total_chunks=38, total_mentions=1400,
        sentiment=SentimentView(520, 480, 400, 143.5), net_sentiment=0.0857,
        topics=[TopicView(label, 100 - i) for i, (label, _, _) in enumerate(themes)],
        clusters=clusters, spike_detected=False, spikes=[], pending_chunks=0,
        last_chunk="bench-38", updated_at=at,
    )  # fmt: skip
    return msgspec.json.encode(grounded("Bench Audio", view))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    wrk = ensure_wrk()
    if wrk is None:
        return 1
    pin = not args.no_pin and can_pin()
    peers = [peer for peer in PEERS if peer.name in args.peers]
    routes = [route for route in ROUTES if route.name in args.routes]
    print(
        f"http benchmark: {args.duration}s per route after {args.warmup}s warm-up, "
        f"{args.connections} connections, "
        + (f"server on CPU {SERVER_CPU}, wrk+valkey on CPU {LOAD_CPU}" if pin else "unpinned"),
        flush=True,
    )
    previous = signal.signal(signal.SIGTERM, _raise_exit)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-http-") as workdir:
            run = Run(
                wrk, args.duration, args.warmup, args.connections, pin, Path(workdir), args.rounds
            )
            _execute(run, peers, routes)
    except KeyboardInterrupt:
        print("\ninterrupted: every peer and Valkey stopped; no figures written", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    run.per_round = list(run.measurements)
    run.measurements = combined(run.per_round)
    _order(run.measurements)
    print()
    print(format_table(run.measurements))
    for skipped in run.skipped:
        what = skipped["route"] if skipped["route"] != "*" else "every route"
        print(f"skipped {what} on {skipped['peer']}: {skipped['reason']}")
    path = write_results(run)
    print(f"\nfigures written to {path.relative_to(ROOT)}")
    return 0 if run.measurements else 1


if __name__ == "__main__":
    sys.exit(main())
