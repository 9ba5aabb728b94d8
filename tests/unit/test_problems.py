from __future__ import annotations

import json

import pytest

from orchestrator.app.problems import _field_path, problem_body


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (("name",), "name"),
        (("keywords", 3), "keywords[3]"),
        (("sources", 0, "url"), "sources[0].url"),
        ((), ""),
    ],
)
def test_field_paths_read_like_the_json_they_point_into(
    location: tuple[int | str, ...], expected: str
) -> None:
    assert _field_path(location) == expected


def test_a_problem_has_the_rfc_9457_members() -> None:
    body = json.loads(problem_body(409, detail="slug nike exists", instance="/v1/brands"))
    assert body == {
        "type": "about:blank",
        "title": "Conflict",
        "status": 409,
        "detail": "slug nike exists",
        "instance": "/v1/brands",
    }
