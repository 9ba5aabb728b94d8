"""``orchestrator brands ...``: the brand registry from the command line, over the HTTP API.

The API's URL is ``--url`` or ``ORCHESTRATOR_URL``; its key is ``ORCHESTRATOR_API_KEY``, or
``API_KEY`` (the server's own variable) when that is unset. A failure is the server's message
on stderr and exit 1; a malformed argument is a usage error, exit 2.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, get_args

import typer

from orchestrator.cli.output import (
    BRAND_COLUMNS,
    brand_document,
    brand_row,
    echo_brand,
    echo_errors,
    echo_json,
    echo_table,
)
from orchestrator.types import BrandStatus, SourceRef, SourceType

if TYPE_CHECKING:  # the client and the brand model load only when a command runs
    from orchestrator.brand import Brand
    from orchestrator.client import Client

DEFAULT_URL = "http://127.0.0.1:9000"
_SOURCE_TYPES: dict[str, SourceType] = {kind: kind for kind in get_args(SourceType)}

app = typer.Typer(
    name="brands",
    help="Manage brands through the HTTP API (--url or ORCHESTRATOR_URL; key from "
    "ORCHESTRATOR_API_KEY, else API_KEY).",
    no_args_is_help=True,
)


def _http_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise typer.BadParameter(f"{url!r} is not an http:// or https:// URL")
    return url


def parse_source(text: str) -> SourceRef:
    """``rss:https://...``, ``atom:URL``, ``json:URL`` or ``file:PATH``; else a usage error."""
    kind, _, location = text.partition(":")
    source_type = _SOURCE_TYPES.get(kind.strip().lower())
    if source_type is None or not location.strip():
        raise typer.BadParameter(
            f"{text!r} is not TYPE:LOCATION with TYPE one of {', '.join(_SOURCE_TYPES)} "
            "(e.g. rss:https://example.com/feed.xml or file:/data/mentions.jsonl)"
        )
    return SourceRef(source_type, location.strip())


def api_key(environ: Mapping[str, str]) -> str | None:
    """``ORCHESTRATOR_API_KEY``, else ``API_KEY``; an empty value counts as unset."""
    return environ.get("ORCHESTRATOR_API_KEY") or environ.get("API_KEY") or None


@contextmanager
def _client(url: str) -> Iterator[Client]:
    """A client of the API; any ClientError becomes its message on stderr and exit 1."""
    from orchestrator.client import Client, ClientError  # noqa: PLC0415 - keeps start-up fast

    try:
        with Client.from_url(url, api_key=api_key(os.environ)) as client:
            yield client
    except ClientError as exc:
        echo_errors(exc)
        raise typer.Exit(1) from None


def _tty() -> bool:
    return sys.stdout.isatty()


Url = Annotated[
    str,
    typer.Option(
        "--url",
        envvar="ORCHESTRATOR_URL",
        callback=_http_url,
        metavar="URL",
        help="Base URL of the API.",
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")]
Slug = Annotated[str, typer.Argument(metavar="SLUG", help="The brand's slug.", show_default=False)]

# The options of ``add``.
Name = Annotated[str, typer.Argument(metavar="NAME", help="The brand's name.", show_default=False)]
Keywords = Annotated[
    list[str],
    typer.Option(
        "--keyword", "-k", metavar="TERM", help="A term to monitor (repeat; one at least)."
    ),
]
NewSlug = Annotated[str | None, typer.Option("--slug", metavar="SLUG", help="Default: from NAME.")]
Excludes = Annotated[
    list[str] | None,
    typer.Option("--exclude", metavar="TERM", help="Drop mentions with this term (repeat)."),
]
Languages = Annotated[
    list[str] | None,
    typer.Option("--language", metavar="CODE", help="ISO 639-1 code to keep (repeat)."),
]
Sources = Annotated[
    list[SourceRef] | None,
    typer.Option(
        "--source",
        parser=parse_source,
        metavar="TYPE:LOCATION",
        help="rss:URL, atom:URL, json:URL or file:PATH (repeat).",
    ),
]
Interval = Annotated[
    int | None, typer.Option("--interval", metavar="SECONDS", help="Seconds between runs.")
]
ChunkSize = Annotated[int | None, typer.Option(metavar="N", help="Mentions per task.")]
MaxInFlight = Annotated[int | None, typer.Option(metavar="N", help="Tasks in flight at most.")]
Paused = Annotated[bool, typer.Option("--paused", help="Register it paused.")]


@app.command()
def add(  # noqa: PLR0913 - typer declares one parameter per option
    name: Name,
    *,
    keyword: Keywords,
    slug: NewSlug = None,
    exclude: Excludes = None,
    language: Languages = None,
    source: Sources = None,
    interval: Interval = None,
    chunk_size: ChunkSize = None,
    max_in_flight: MaxInFlight = None,
    paused: Paused = False,
    json_output: Json = False,
    url: Url = DEFAULT_URL,
) -> None:
    """Register a brand and print it (unset settings take the server's defaults)."""
    from orchestrator.client import BrandDraft  # noqa: PLC0415 - keeps start-up fast

    draft = BrandDraft(
        name=name,
        keywords=tuple(keyword),
        slug=slug,
        exclude_keywords=tuple(exclude or ()),
        languages=tuple(language or ()),
        sources=tuple(source or ()),
        schedule_interval_sec=interval,
        chunk_size=chunk_size,
        max_in_flight=max_in_flight,
        status=BrandStatus.PAUSED if paused else BrandStatus.ACTIVE,
    )
    with _client(url) as client:
        brand = client.create_brand(draft)
    echo_brand(brand, as_json=json_output, tty=_tty())


@app.command("list")
def list_brands(  # noqa: PLR0913 - typer declares one parameter per option
    *,
    status: Annotated[BrandStatus | None, typer.Option(help="Only brands in this status.")] = None,
    query: Annotated[
        str | None,
        typer.Option("--query", "-q", metavar="TEXT", help="Substring of slug, name or keyword."),
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, metavar="N", help="Brands per request (page size).")
    ] = 100,
    max_brands: Annotated[
        int | None, typer.Option("--max", min=1, metavar="N", help="Stop after this many brands.")
    ] = None,
    json_output: Json = False,
    url: Url = DEFAULT_URL,
) -> None:
    """Every brand in slug order, all pages (a JSON array with --json)."""
    page_size = min(limit, max_brands or limit)
    with _client(url) as client:
        found = client.iter_brands(status=status, query=query, page_size=page_size)
        brands = list(itertools.islice(found, max_brands))
    if json_output:
        echo_json([brand_document(brand) for brand in brands])
    elif brands:
        echo_table([brand_row(brand) for brand in brands], header=BRAND_COLUMNS, tty=_tty())
    else:
        typer.echo("no brands", err=True)


@app.command()
def show(slug: Slug, *, json_output: Json = False, url: Url = DEFAULT_URL) -> None:
    """Every setting of one brand."""
    with _client(url) as client:
        brand = client.get_brand(slug)
    echo_brand(brand, as_json=json_output, tty=_tty())


@app.command()
def pause(slug: Slug, *, json_output: Json = False, url: Url = DEFAULT_URL) -> None:
    """No new tasks for the brand; tasks in flight finish."""
    with _client(url) as client:
        brand = client.pause_brand(slug)
    _echo_status(brand, json_output=json_output)


@app.command()
def resume(slug: Slug, *, json_output: Json = False, url: Url = DEFAULT_URL) -> None:
    """Monitor the brand again (it is due at once)."""
    with _client(url) as client:
        brand = client.resume_brand(slug)
    _echo_status(brand, json_output=json_output)


def _echo_status(brand: Brand, *, json_output: bool) -> None:
    if json_output:
        echo_json(brand_document(brand))
    else:
        typer.echo(f"{brand.slug}: {brand.status.value}")


@app.command("rm")
def remove(
    slug: Slug,
    *,
    purge: Annotated[
        bool, typer.Option("--purge", help="Also delete its mentions, aggregates, summaries.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before --purge.")] = False,
    url: Url = DEFAULT_URL,
) -> None:
    """Stop monitoring a brand and delete it; --purge deletes its data too (asks first)."""
    if purge and not yes:
        _confirm_purge(slug)
    with _client(url) as client:
        client.delete_brand(slug, purge=purge)
    typer.echo(f"removed {slug}{' and its data' if purge else ''}")


def _confirm_purge(slug: str) -> None:
    """Ask on a terminal; refuse without a terminal to ask on (scripts pass --yes)."""
    if not sys.stdin.isatty():
        raise typer.BadParameter("no terminal to confirm on: add --yes", param_hint="'--purge'")
    typer.confirm(f"Delete {slug!r} with all its mentions, aggregates and summaries?", abort=True)
