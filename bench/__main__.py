"""``python -m bench`` (what ``make bench`` runs): every benchmark, with its default options.

Each benchmark module exposes ``main(argv) -> int``; run one alone for its options,
e.g. ``python -m bench.http --help``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from bench import cluster, collect, dispatch, durability, http, mentions, registry, summarize

BENCHMARKS: tuple[tuple[str, Callable[[Sequence[str]], int]], ...] = (
    ("http", http.main),
    ("registry", registry.main),
    ("dispatch", dispatch.main),
    ("collect", collect.main),
    ("mentions", mentions.main),
    ("summarize", summarize.main),
    ("durability", durability.main),
    ("cluster", cluster.main),
)


def main(argv: Sequence[str]) -> int:
    if argv:
        print("usage: python -m bench   (every benchmark, default options)", file=sys.stderr)
        print("options are per benchmark, e.g. python -m bench.http --help", file=sys.stderr)
        return 2
    failed = []
    for name, run in BENCHMARKS:
        print(f"=== bench {name} ===", flush=True)
        if run([]) != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
