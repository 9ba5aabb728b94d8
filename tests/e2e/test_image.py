"""The wheel the container image installs carries the whole package: built as the
Dockerfile's builder stage builds it, from what that stage copies out of the build context."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from fnmatch import fnmatch
from pathlib import Path

from tests.deploy import PACKAGE, ROOT, builder_copies, dockerignore_rules

# What the service and its workers load by name at run time, besides modules.
LOADED_FILES = (
    "orchestrator/lua/*.lua",
    "orchestrator/dashboard/templates/*.html",
    "orchestrator/dashboard/static/*",
    "orchestrator/app/static/*",
    "orchestrator/demo/brands.json",
    "orchestrator/demo/mentions.jsonl",
    "orchestrator/data/sentiment_train.jsonl",
    "orchestrator/py.typed",
)


def build_context(into: Path) -> Path:
    """The builder stage's working directory: each COPY source where the stage puts it, less
    what .dockerignore leaves out beneath the allowed folders (its ``**/`` rules)."""
    leave_out = shutil.ignore_patterns(
        *(rule.removeprefix("**/") for rule in dockerignore_rules() if rule.startswith("**/"))
    )
    for source, destination in builder_copies():
        origin, target = ROOT / source, into / destination
        target.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, target, ignore=leave_out)
        else:
            shutil.copy2(origin, target)
    return into


def test_the_image_wheel_carries_every_file_of_the_package(tmp_path: Path) -> None:
    context = build_context(tmp_path / "build")
    subprocess.run(  # the builder stage's command
        [
            sys.executable,
            "-m",
            "uv",
            "build",
            "--wheel",
            "--out-dir",
            str(tmp_path / "dist"),
            "--python",
            sys.executable,
        ],
        cwd=context,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())

    package = context / PACKAGE
    on_disk = {
        f"orchestrator/{path.relative_to(package).as_posix()}"
        for path in package.rglob("*")
        if path.is_file()
    }
    assert not on_disk - names, "in the package but not in the wheel"
    for pattern in LOADED_FILES:
        assert any(fnmatch(name, pattern) for name in names), pattern
    assert not any("__pycache__" in name for name in names)
