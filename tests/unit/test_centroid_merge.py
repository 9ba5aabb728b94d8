"""The compiled merge loop: what `make` and the image compile ahead is what a process reads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LOAD_AND_REPORT = (
    "from orchestrator import centroid_merge, merge_loop\n"
    "centroid_merge.load()\n"
    "stats = merge_loop.run.stats\n"
    "print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))\n"
)


def test_a_process_reads_the_loop_compiled_ahead_from_the_cache(tmp_path: Path) -> None:
    cache = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}  # empty: compiled here (seconds)
    ahead = [sys.executable, "-m", "orchestrator.centroid_merge"]
    subprocess.run(ahead, env=cache, check=True, timeout=300)
    report = subprocess.run(
        [sys.executable, "-c", LOAD_AND_REPORT],
        env=cache,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    hits, misses = map(int, report.stdout.split())
    assert (hits, misses) == (1, 0)
