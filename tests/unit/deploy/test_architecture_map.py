"""docs/architecture.md's "Where things live" map names every folder of the layout, and only folders
that exist (issue 10 §7: the map is kept in step by this test)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "architecture.md"


def map_rows() -> dict[str, str]:
    text = DOC.read_text()
    section = text.split("## Where things live\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) >= 2:
            for path in re.findall(r"`([^`]+)`", cells[0]):
                rows[path] = cells[1]
    return rows


def tracked_folders() -> set[str]:
    """Every folder that must have a row: the top level, the functions and the core's packages."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    folders: set[str] = set()
    for f in files.splitlines():
        parts = f.split("/")
        if len(parts) > 1 and not parts[0].startswith("."):
            folders.add(parts[0] + "/")
        if parts[0] == "functions" and len(parts) > 2:
            folders.add("/".join(parts[:2]) + "/")
        if parts[:2] == ["functions", "prism"] and len(parts) > 3 and parts[2] != "__pycache__":
            folders.add("/".join(parts[:3]) + "/")
    return folders


def test_the_map_sits_at_the_top() -> None:
    headings = re.findall(r"^## (.+)$", DOC.read_text(), re.M)
    assert headings[0] == "Where things live"


def test_every_folder_has_a_row() -> None:
    missing = sorted(tracked_folders() - set(map_rows()))
    assert not missing, f"docs/architecture.md's 'Where things live' has no row for {missing}"


def test_every_row_names_something_that_exists() -> None:
    gone = sorted(p for p in map_rows() if not (ROOT / p).exists())
    assert not gone, f"'Where things live' names paths that do not exist: {gone}"


def test_the_modules_a_row_names_exist_in_its_folder() -> None:
    """`name.py` mentioned in a folder's row is a file of that folder (or of one below it)."""
    wrong: list[str] = []
    for path, what in map_rows().items():
        folder = ROOT / path
        if not path.endswith("/") or not folder.is_dir():
            continue
        for name in re.findall(r"`([\w]+\.py)`", what):
            if not any(folder.rglob(name)):
                wrong.append(f"{path}: {name}")
    assert not wrong, f"rows name modules their folder does not have: {wrong}"
