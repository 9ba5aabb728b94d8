"""``orchestrator mentions ...``: send a JSON Lines file of mentions, or follow a brand's.

Talks to the HTTP API like ``orchestrator brands`` (``--url`` or ``ORCHESTRATOR_URL``; the key
from ``ORCHESTRATOR_API_KEY``, else ``API_KEY``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli.brands import Slug, Url, _client

app = typer.Typer(
    name="mentions", help="Send mentions to a brand, or follow its mentions.", no_args_is_help=True
)

BATCH = 500  # mentions per request (the API takes at most 5,000)

File = Annotated[
    Path,
    typer.Argument(
        metavar="FILE.jsonl",
        exists=True,
        dir_okay=False,
        readable=True,
        help="One mention per line.",
    ),
]
Brand = Annotated[str, typer.Option("--brand", "-b", metavar="SLUG", help="The brand's slug.")]


def batches(path: Path, size: int = BATCH) -> Iterator[list[bytes]]:
    """The file's non-empty lines, ``size`` at a time."""
    batch: list[bytes] = []
    with path.open("rb") as lines:
        for line in lines:
            if line.strip():
                batch.append(line.rstrip(b"\r\n"))
            if len(batch) == size:
                yield batch
                batch = []
    if batch:
        yield batch


@app.command("import")
def import_mentions(file: File, brand: Brand, url: Url = "http://127.0.0.1:9000") -> None:
    """Send every mention of FILE (JSON Lines) to the brand, 500 per request, and count them.

    Lines that are not valid mentions are reported with their line number; the valid ones are
    stored all the same. Exit 1 when any line was rejected."""
    from rich.progress import Progress  # noqa: PLC0415 - keeps start-up fast

    with file.open("rb") as lines:
        total = sum(1 for line in lines if line.strip())
    accepted = duplicates = 0
    rejected: list[str] = []
    with _client(url) as client, Progress(transient=True) as progress:
        task = progress.add_task(f"{brand}: sending", total=total)
        line = 0
        for batch in batches(file):
            outcome = client.add_mentions(brand, batch)
            accepted += outcome.accepted
            duplicates += outcome.duplicates
            rejected += [
                f"line {line + r.index + 1}: {e['field'] or 'mention'}: {e['message']}"
                for r in outcome.rejected
                for e in r.errors
            ]
            line += len(batch)
            progress.advance(task, len(batch))
    typer.echo(f"{brand}: {accepted} accepted, {duplicates} duplicates, {len(rejected)} rejected")
    for problem in rejected[:20]:
        typer.echo(problem, err=True)
    if len(rejected) > 20:
        typer.echo(f"... and {len(rejected) - 20} more", err=True)
    if rejected:
        raise typer.Exit(1)


@app.command("tail")
def tail(
    slug: Slug,
    url: Url = "http://127.0.0.1:9000",
    from_start: Annotated[
        bool, typer.Option("--from-start", help="Begin with the oldest kept.")
    ] = False,
    every: Annotated[float, typer.Option("--every", metavar="SECONDS", min=0.1)] = 1.0,
) -> None:
    """Print the brand's mentions as JSON Lines as they arrive (Ctrl-C to stop)."""
    import msgspec  # noqa: PLC0415 - keeps start-up fast

    after: str | None = None if from_start else "$"
    with _client(url) as client:
        try:
            while True:
                mentions, after = client.list_mentions(slug, after=after, limit=500)
                for mention in mentions:
                    typer.echo(msgspec.json.encode(mention).decode())
                if not mentions:
                    time.sleep(every)
        except KeyboardInterrupt:
            return
