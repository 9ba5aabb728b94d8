"""The dashboard's pure parts: sparklines, time spans, relative times and page credentials."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.dashboard.access import presented_key
from orchestrator.dashboard.charts import span_of, sparkline
from orchestrator.dashboard.views import ago

NOW = datetime(2026, 11, 29, 17, 30, tzinfo=UTC)


def test_a_sparkline_puts_the_peak_at_the_top_and_zero_at_the_bottom() -> None:
    line = sparkline([0, 5, 10], width=100, height=22)
    assert line.path == "M0.0,21.0 L50.0,11.0 L100.0,1.0"
    assert (line.total, line.peak) == (15, 10)


@pytest.mark.parametrize(("values", "path"), [([], ""), ([0, 0], "M0.0,27.0 L120.0,27.0")])
def test_an_empty_or_flat_sparkline(values: list[int], path: str) -> None:
    assert sparkline(values).path == path


@pytest.mark.parametrize(
    ("range_", "bucket", "hours", "window"),
    [("24h", "1h", 24, "24h"), ("7d", "1h", 168, "7d"), ("30d", "1d", 720, "30d")],
)
def test_fixed_ranges(range_: str, bucket: str, hours: int, window: str) -> None:
    span = span_of(range_, NOW, None)  # type: ignore[arg-type]  # the table holds valid ranges
    assert (span.bucket, span.window, span.end) == (bucket, window, NOW)
    assert span.end - span.start == timedelta(hours=hours)


def test_all_starts_at_the_first_data_hourly_up_to_two_weeks_then_daily() -> None:
    first = datetime(2026, 11, 23, 0, 0, 14, tzinfo=UTC)
    recent = span_of("all", NOW, first)
    assert (recent.start, recent.bucket, recent.window) == (first.replace(second=0), "1h", "all")
    assert span_of("all", NOW, NOW - timedelta(days=40)).bucket == "1d"
    assert span_of("all", NOW, None).start == (NOW - timedelta(days=7)).replace(minute=0)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(3, "just now"), (40, "under a minute ago"), (125, "2 min ago"), (7200, "2 h ago"),
     (3 * 86_400, "3 d ago")],
)  # fmt: skip
def test_relative_times_are_coarse(seconds: int, text: str) -> None:
    assert ago(NOW - timedelta(seconds=seconds), NOW) == text
    assert ago(None, NOW) == "never"


def _basic(credentials: bytes) -> str:
    return "Basic " + base64.b64encode(credentials).decode()


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Bearer k1", b"k1"),
        ("bearer  k1 ", b"k1"),
        (_basic(b"anyone:k2"), b"k2"),
        (_basic(b":k:3"), b"k:3"),
        (_basic(b"no-colon"), None),
        (_basic(b"user:"), None),
        ("Basic !!!", None),
        ("Digest x", None),
        ("Bearer", None),
        ("", None),
    ],
)
def test_the_key_a_request_presents(header: str, key: bytes | None) -> None:
    assert presented_key(header) == key
