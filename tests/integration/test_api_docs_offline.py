"""/docs and /redoc render in a real browser that can reach nothing but this machine."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.support.net import ThreadServer
from tests.unit.test_api_docs import _ingestion

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or os.environ.get("PRISM_SKIP_WEB") == "1", reason="needs Chromium (make test installs it)"
)


@pytest.fixture(scope="module")
def ingestion_url() -> Iterator[str]:
    with ThreadServer(_ingestion()) as server:
        yield server.url


def _rendered(url: str) -> str:
    """The page's DOM after its scripts ran, every host name but 127.0.0.1 unresolvable (offline)."""
    assert CHROMIUM is not None
    argv = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--virtual-time-budget=10000",
        "--dump-dom",
        url,
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=90, check=True).stdout


def test_swagger_ui_renders_the_operations_offline(ingestion_url: str) -> None:
    dom = _rendered(f"{ingestion_url}/docs")
    # Swagger UI built its page: the title and one block per operation, from /openapi.json
    assert "Prism ingestion API" in dom
    assert 'class="opblock opblock-post' in dom and "/v1/events" in dom and "/readyz" in dom


def test_redoc_renders_the_operations_offline(ingestion_url: str) -> None:
    dom = _rendered(f"{ingestion_url}/redoc")
    assert "Prism ingestion API" in dom and "api-content" in dom
    assert "Ingest a batch of inference events" in dom and "/v1/events" in dom
