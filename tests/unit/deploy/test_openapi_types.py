"""The web UI's API types cannot drift from the code: ``web/openapi/<api>.json`` is what
``scripts/openapi.py`` writes from the apps, and ``web/src/lib/generated/<api>.ts`` is what
``npm run gen:api`` (openapi-typescript) makes of those documents. Both are checked in; these tests
regenerate them and fail on any difference (fix: ``python -m scripts.openapi && cd web && npm run gen:api``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from scripts import openapi

WEB = openapi.ROOT / "web"
GENERATED = WEB / "src" / "lib" / "generated"
FIX = "regenerate: python -m scripts.openapi && (cd web && npm run gen:api)"


@pytest.mark.parametrize("api", sorted(openapi.APIS))
def test_the_checked_in_openapi_document_is_the_apps(api: str) -> None:
    checked_in = WEB / "openapi" / f"{api}.json"
    assert checked_in.exists(), f"{checked_in} is missing: {FIX}"
    assert checked_in.read_text(encoding="utf-8") == openapi.document(api), f"{checked_in} is stale: {FIX}"


def test_the_generated_types_are_what_gen_api_makes_of_the_documents(tmp_path: Path) -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js and npm are not installed: the generated TypeScript types are not checked")
    if not (WEB / "node_modules" / ".bin" / "openapi-typescript").exists():
        pytest.fail("web/node_modules has no openapi-typescript: run scripts/web_deps.sh (npm ci in web/)")
    # GIVEN a copy of web/ with freshly written documents (the same packages, linked)
    work = tmp_path / "web"
    work.mkdir()
    shutil.copy(WEB / "package.json", work / "package.json")
    (work / "node_modules").symlink_to(WEB / "node_modules", target_is_directory=True)
    openapi.write(work / "openapi")
    # WHEN `npm run gen:api` runs there
    run = subprocess.run(
        [npm, "run", "--silent", "gen:api"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # THEN it makes one file per API, each the same as the one checked in
    made = sorted(p.name for p in (work / "src" / "lib" / "generated").iterdir())
    assert made == sorted(f"{api}.ts" for api in openapi.APIS)
    assert sorted(p.name for p in GENERATED.glob("*.ts")) == made, f"web/src/lib/generated differs: {FIX}"
    for name in made:
        fresh = (work / "src" / "lib" / "generated" / name).read_text(encoding="utf-8")
        assert (GENERATED / name).read_text(encoding="utf-8") == fresh, f"web/src/lib/generated/{name} is stale: {FIX}"
