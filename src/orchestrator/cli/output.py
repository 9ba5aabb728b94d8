"""What the brand commands print: tables for people (rich on a terminal, aligned text
otherwise), JSON for scripts, and errors as ``orchestrator: ...`` lines on stderr."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:  # loaded only when a command runs, to keep the CLI's start-up fast
    from orchestrator.brand import Brand
    from orchestrator.client import ClientError

Row = Sequence[str]
BRAND_COLUMNS = ("slug", "name", "status", "keywords", "interval", "sources")


def brand_row(brand: Brand) -> Row:
    """One line of ``brands list``."""
    return (
        brand.slug,
        brand.name,
        brand.status.value,
        ", ".join(brand.keywords),
        f"{brand.schedule_interval_sec}s",
        str(len(brand.sources)),
    )


def brand_fields(brand: Brand) -> list[Row]:
    """``brands show``: one (label, value) pair per setting, one row per source."""
    sources = [
        f"{source.type} {source.path if source.type == 'file' else source.url}"
        for source in brand.sources
    ] or ["-"]
    return [
        ("slug", brand.slug),
        ("name", brand.name),
        ("status", brand.status.value),
        ("keywords", ", ".join(brand.keywords)),
        ("exclude", ", ".join(brand.exclude_keywords) or "-"),
        ("languages", ", ".join(brand.languages) or "any"),
        ("interval", f"{brand.schedule_interval_sec}s"),
        ("chunk size", str(brand.chunk_size)),
        ("max in flight", str(brand.max_in_flight)),
        *[("sources" if index == 0 else "", line) for index, line in enumerate(sources)],
        ("version", str(brand.version)),
        ("created", brand.created_at.isoformat(timespec="seconds")),
        ("updated", brand.updated_at.isoformat(timespec="seconds")),
    ]


def plain_table(rows: Sequence[Row]) -> str:
    """Rows as left-aligned columns two spaces apart, without trailing blanks."""
    widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=True)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def error_lines(exc: ClientError) -> list[str]:
    """``orchestrator: <title>: <detail>``, then ``  <field>: <message>`` per invalid field."""
    lines = [f"orchestrator: {exc}"]
    from orchestrator.client import ApiError  # noqa: PLC0415 - keeps start-up fast

    if isinstance(exc, ApiError):
        lines += [f"  {error.field}: {error.message}" for error in exc.problem.errors]
    return lines


def echo_table(rows: Sequence[Row], *, header: Row | None, tty: bool) -> None:
    """A table on stdout: rich's on a terminal, aligned text otherwise."""
    if not tty:
        typer.echo(plain_table([tuple(h.upper() for h in header), *rows] if header else rows))
        return
    from rich.console import Console  # noqa: PLC0415 - rich is needed only on a terminal
    from rich.table import Table  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    table = Table(*header) if header else Table.grid(padding=(0, 2))
    if not header:
        table.add_column(style="bold")
        table.add_column()
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))  # Text: names are not rich markup
    Console().print(table)


def echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def brand_document(brand: Brand) -> dict[str, Any]:
    """The brand as the API serves it (camelCase JSON values)."""
    return brand.model_dump(mode="json", by_alias=True)


def echo_brand(brand: Brand, *, as_json: bool, tty: bool) -> None:
    if as_json:
        echo_json(brand_document(brand))
    else:
        echo_table(brand_fields(brand), header=None, tty=tty)


def echo_errors(exc: ClientError) -> None:
    for line in error_lines(exc):
        typer.echo(line, err=True)
