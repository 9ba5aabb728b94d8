"""``orchestrator brands ...`` as a subprocess against a real service: outputs, exit codes and
the server's own messages. One service (with API_KEY set) on a private Valkey serves the module;
each test starts with no brands."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
import typer

from orchestrator.cli.brands import api_key, parse_source
from orchestrator.cli.output import BRAND_COLUMNS, echo_table, error_lines, plain_table
from orchestrator.client import (
    ApiError,
    ApiUnreachableError,
    BrandDraft,
    Client,
    FieldProblem,
    Problem,
    SourceRef,
    problem_from_response,
)
from orchestrator.store.embedded import EmbeddedServer, free_port
from tests.harness import ServiceProcess

KEY = "cli-write-key-0123456789"
NO_KEY: dict[str, str] = {}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """A private store, so that no other module's keys (``brands:list``) are adopted."""
    workdir = tmp_path_factory.mktemp("cli-brands")
    with EmbeddedServer(workdir / "valkey", appendonly=False) as valkey:
        env = {"REDIS_URL": valkey.url, "API_KEY": KEY}
        process = ServiceProcess(workdir, env).start().wait_ready()
        yield process
        assert process.stop() == 0


@pytest.fixture
def client(service: ServiceProcess) -> Iterator[Client]:
    """A client of the module's service, which holds no brands when the test starts."""
    with Client.from_url(service.url, api_key=KEY) as client:
        for brand in list(client.iter_brands()):
            client.delete_brand(brand.slug, purge=True)
        yield client


@pytest.fixture
def url(service: ServiceProcess, client: Client) -> str:
    return service.url


def brands(
    *args: str, url: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``orchestrator brands ARGS`` with the service's URL and, unless ``env`` says otherwise,
    its key; stdin and stdout are not terminals."""
    environment = {"PATH": "/usr/bin:/bin", "ORCHESTRATOR_URL": url}
    environment.update({"ORCHESTRATOR_API_KEY": KEY} if env is None else env)
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator", "brands", *args],
        capture_output=True,
        text=True,
        env=environment,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in result.stderr + result.stdout
    return result


def fields(table: str) -> dict[str, str]:
    """``brands show``'s aligned ``label  value`` lines as a dict (first line of each label)."""
    pairs = (line.split("  ", 1) for line in table.splitlines() if not line.startswith(" "))
    return {label: value.strip() for label, value in pairs}


def flat(text: str) -> str:
    """Usage errors come in a wrapped box: the words, one space apart."""
    return " ".join(text.replace("│", " ").split())


def test_add_prints_the_brand_and_show_prints_it_again(url: str) -> None:
    added = brands(
        *("add", "Nike Running", "-k", "nike", "--keyword", "just do it", "--exclude", "jobs"),
        *("--language", "en", "--source", "rss:https://example.com/feed.xml"),
        *("--source", "file:/data/nike.jsonl", "--interval", "60", "--chunk-size", "50"),
        *("--max-in-flight", "2", "--json"),
        url=url,
    )
    assert added.returncode == 0, added.stderr
    brand = json.loads(added.stdout)
    assert brand["slug"] == "nike-running"
    assert brand["keywords"] == ["nike", "just do it"]
    assert brand["excludeKeywords"] == ["jobs"]
    assert brand["sources"] == [
        {"type": "rss", "url": "https://example.com/feed.xml", "options": {"headers": {}}},
        {"type": "file", "path": "/data/nike.jsonl", "options": {"format": "jsonl"}},
    ]
    assert (brand["scheduleIntervalSec"], brand["chunkSize"], brand["maxInFlight"]) == (60, 50, 2)
    assert brand["status"] == "active"

    shown = brands("show", "nike-running", "--json", url=url)
    assert json.loads(shown.stdout) == brand

    table = brands("show", "nike-running", url=url)
    assert table.returncode == 0, table.stderr
    values = fields(table.stdout)
    assert values.pop("created") == values.pop("updated") == brand["createdAt"][:19] + "+00:00"
    assert values == {
        **{"slug": "nike-running", "name": "Nike Running", "status": "active"},
        **{"keywords": "nike, just do it", "exclude": "jobs", "languages": "en"},
        **{"interval": "60s", "chunk size": "50", "max in flight": "2"},
        **{"sources": "rss https://example.com/feed.xml", "version": "1"},
    }
    assert "file /data/nike.jsonl" in table.stdout


def test_add_without_options_takes_the_server_defaults_and_paused_registers_it_paused(
    url: str,
) -> None:
    added = brands("add", "Adidas", "-k", "adidas", "--paused", url=url)
    assert added.returncode == 0, added.stderr
    shown = fields(added.stdout)
    assert (shown["slug"], shown["status"], shown["interval"]) == ("adidas", "paused", "300s")


def test_pause_and_resume_change_the_status(url: str, client: Client) -> None:
    client.create_brand(BrandDraft(name="Nike", keywords=("nike",)))
    client.create_brand(BrandDraft(name="Puma", keywords=("puma",)))

    paused = brands("pause", "nike", url=url)
    assert (paused.returncode, paused.stdout) == (0, "nike: paused\n")
    assert client.get_brand("nike").status == "paused"
    listed = brands("list", "--status", "paused", "--json", url=url)
    assert [brand["slug"] for brand in json.loads(listed.stdout)] == ["nike"]

    resumed = brands("resume", "nike", "--json", url=url)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "active"
    assert client.get_brand("nike").status == "active"


def test_rm_deletes_and_a_purge_without_a_terminal_needs_yes(url: str, client: Client) -> None:
    client.create_brand(BrandDraft(name="Nike", keywords=("nike",)))

    refused = brands("rm", "nike", "--purge", url=url)
    assert refused.returncode == 2
    assert "--yes" in flat(refused.stderr)
    assert client.get_brand("nike").slug == "nike"  # nothing was deleted

    removed = brands("rm", "nike", "--purge", "--yes", url=url)
    assert (removed.returncode, removed.stdout) == (0, "removed nike and its data\n")
    gone = brands("rm", "nike", url=url)
    assert gone.returncode == 1
    assert gone.stderr == "orchestrator: Not Found: no brand 'nike'\n"


def test_list_follows_every_page(url: str, client: Client) -> None:
    slugs = ["b1", "b2", "b3", "b4", "b5"]
    for slug in reversed(slugs):
        client.create_brand(BrandDraft(name=slug.upper(), keywords=(slug, "shoes")))

    table = brands("list", "--limit", "2", url=url)
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["SLUG", "NAME", "STATUS", "KEYWORDS", "INTERVAL", "SOURCES"]
    assert [row.split()[0] for row in rows] == slugs
    assert rows[0].split() == ["b1", "B1", "active", "b1,", "shoes", "300s", "0"]

    as_json = brands("list", "--limit", "2", "--json", url=url)
    assert [brand["slug"] for brand in json.loads(as_json.stdout)] == slugs

    first = brands("list", "--limit", "2", "--max", "3", "--json", url=url)
    assert [brand["slug"] for brand in json.loads(first.stdout)] == slugs[:3]


def test_list_of_nothing_is_an_empty_array_or_a_note(url: str) -> None:
    assert brands("list", "--json", url=url).stdout.strip() == "[]"
    empty = brands("list", url=url)
    assert (empty.returncode, empty.stdout, empty.stderr) == (0, "", "no brands\n")


def test_a_duplicate_is_the_servers_conflict(url: str, client: Client) -> None:
    client.create_brand(BrandDraft(name="Nike", keywords=("nike",)))
    result = brands("add", "Nike", "-k", "swoosh", url=url)
    assert result.returncode == 1
    assert result.stderr == "orchestrator: Conflict: a brand 'nike' exists already\n"
    assert client.get_brand("nike").keywords == ["nike"]


def test_an_invalid_field_is_the_servers_message_with_the_field(url: str, client: Client) -> None:
    result = brands("add", "Nike", "-k", "nike", "--language", "xx", url=url)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "orchestrator: Validation failed: invalid fields: languages[0]",
        "  languages[0]: Value error, 'xx' is not an ISO 639-1 language code",
    ]
    assert list(client.iter_brands()) == []


def test_a_malformed_source_is_a_usage_error(url: str, client: Client) -> None:
    result = brands("add", "Nike", "-k", "nike", "--source", "https://example.com/feed", url=url)
    assert result.returncode == 2
    assert "Invalid value for '--source': 'https://example.com/feed' is not TYPE:LOCATION" in (
        flat(result.stderr)
    )
    assert list(client.iter_brands()) == []


def test_the_key_comes_from_the_environment(url: str, client: Client) -> None:
    denied = brands("add", "Nike", "-k", "nike", url=url, env=NO_KEY)
    assert denied.returncode == 1
    assert denied.stderr == (
        "orchestrator: Unauthorized: a valid 'Authorization: Bearer <key>' header is required\n"
    )
    wrong = brands("add", "Nike", "-k", "nike", url=url, env={"ORCHESTRATOR_API_KEY": "wrong"})
    assert wrong.stderr == "orchestrator: Unauthorized: the bearer key is not valid\n"
    assert list(client.iter_brands()) == []

    assert brands("add", "Nike", "-k", "nike", url=url).returncode == 0
    fallback = brands("add", "Puma", "-k", "puma", url=url, env={"API_KEY": KEY})
    assert fallback.returncode == 0, fallback.stderr
    assert [brand.slug for brand in client.iter_brands()] == ["nike", "puma"]


def test_an_unreachable_url_is_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = brands("list", url=url)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"orchestrator: cannot reach {url}: ")
    assert len(result.stderr.splitlines()) == 1


# The pure parts, in-process.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rss:https://example.com/feed.xml", SourceRef("rss", "https://example.com/feed.xml")),
        ("ATOM:https://example.com/atom", SourceRef("atom", "https://example.com/atom")),
        ("json:https://api.example.com/q?a=1", SourceRef("json", "https://api.example.com/q?a=1")),
        ("file:/data/m.jsonl", SourceRef("file", "/data/m.jsonl")),
        ("file:relative/m.jsonl", SourceRef("file", "relative/m.jsonl")),
    ],
)
def test_parse_source(text: str, expected: SourceRef) -> None:
    assert parse_source(text) == expected


@pytest.mark.parametrize("text", ["https://example.com/feed", "podcast:https://x", "rss:", "rss"])
def test_parse_source_refuses(text: str) -> None:
    with pytest.raises(typer.BadParameter, match="is not TYPE:LOCATION"):
        parse_source(text)


def test_source_documents() -> None:
    assert SourceRef("rss", "https://x.example/").to_document() == {
        "type": "rss",
        "url": "https://x.example/",
    }
    assert SourceRef("file", "/m.jsonl").to_document() == {"type": "file", "path": "/m.jsonl"}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"API_KEY": "server"}, "server"),
        ({"ORCHESTRATOR_API_KEY": "mine", "API_KEY": "server"}, "mine"),
        ({"ORCHESTRATOR_API_KEY": "", "API_KEY": "server"}, "server"),
        ({"ORCHESTRATOR_API_KEY": "", "API_KEY": ""}, None),
    ],
)
def test_api_key(environ: dict[str, str], expected: str | None) -> None:
    assert api_key(environ) == expected


def test_a_draft_leaves_unset_settings_to_the_server() -> None:
    draft = BrandDraft(name="Nike", keywords=("nike",), chunk_size=5)
    assert draft.to_document() == {
        **{"name": "Nike", "keywords": ["nike"], "excludeKeywords": [], "languages": []},
        **{"sources": [], "chunkSize": 5, "status": "active"},
    }


@pytest.mark.parametrize(
    ("status", "content_type", "body", "expected"),
    [
        (
            404,
            "application/problem+json",
            b'{"type":"about:blank","title":"Not Found","status":404,"detail":"no brand","x":1}',
            Problem(title="Not Found", status=404, detail="no brand"),
        ),
        (
            422,
            "application/problem+json",
            b'{"title":"Validation failed","status":422,"errors":'
            b'[{"field":"name","in":"body","message":"Field required","type":"missing"}]}',
            Problem(
                title="Validation failed",
                status=422,
                errors=(FieldProblem("name", "Field required", "body", "missing"),),
            ),
        ),
        (
            502,
            "text/html",
            b"<html>\n  <b>Bad gateway</b>\n</html>",
            Problem(title="Bad Gateway", status=502, detail="<html> <b>Bad gateway</b> </html>"),
        ),
        (500, "application/json", b"not json", Problem("Internal Server Error", 500, "not json")),
        (599, "", b"", Problem(title="HTTP 599", status=599)),
    ],
)
def test_problem_from_response(
    status: int, content_type: str, body: bytes, expected: Problem
) -> None:
    assert problem_from_response(status, content_type, body) == expected


def test_error_lines() -> None:
    problem = Problem(
        title="Validation failed",
        status=422,
        detail="invalid fields: keywords, name",
        errors=(FieldProblem("keywords", "List should have at least 1 item"),),
    )
    assert error_lines(ApiError(problem)) == [
        "orchestrator: Validation failed: invalid fields: keywords, name",
        "  keywords: List should have at least 1 item",
    ]
    assert error_lines(ApiUnreachableError("cannot reach http://x: refused")) == [
        "orchestrator: cannot reach http://x: refused"
    ]


def test_plain_table() -> None:
    rows = [("SLUG", "NAME", "N"), ("nike-running", "Nike", "2"), ("b", "B", "")]
    assert plain_table(rows).splitlines() == [
        "SLUG          NAME  N",
        "nike-running  Nike  2",
        "b             B",
    ]


def test_the_terminal_table_shows_names_as_they_are(capsys: pytest.CaptureFixture[str]) -> None:
    echo_table([("puma", "[bold]Puma[/bold] :smile:")], header=BRAND_COLUMNS[:2], tty=True)
    out = capsys.readouterr().out
    assert "slug" in out
    assert "[bold]Puma[/bold] :smile:" in out  # not rich markup, not an emoji


def test_a_brand_with_secrets_is_shown_with_them_masked(url: str, client: Client) -> None:
    hook = {"url": "https://hooks.example.com/a", "secret": "whsec-0123456789abcdef"}
    body = {"name": "Acme", "keywords": ["acme"], "alerts": [hook]}
    headers = {"authorization": f"Bearer {KEY}"}
    assert httpx.post(f"{url}/v1/brands", json=body, headers=headers).status_code == 201
    assert client.get_brand("acme").alerts[0].secret == "********"  # noqa: S105 - a test value
    shown = brands("show", "acme", "--json", url=url)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["alerts"] == [{**hook, "secret": "********"}]
    listed = brands("list", "--json", url=url)
    assert listed.returncode == 0, listed.stderr
    assert "whsec" not in listed.stdout
