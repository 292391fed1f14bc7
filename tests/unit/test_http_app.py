"""The app every API starts from (``prism.http.new_app``) and the one a module builds from the
environment on first access (``prism.http.app_on_first_access``)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from prism.config import Settings
from prism.http import DOCS_URL, app_on_first_access, caller_address, new_app

pytestmark = pytest.mark.unit

EDGE = ("198.51.100.1", 443)
PAGE = "https://prism.example.com"
VIEWER = {"CloudFront-Viewer-Address": "203.0.113.7:51234"}


def settings() -> Settings:
    return Settings(env="test", cors_origins=PAGE, viewer_address_header="CloudFront-Viewer-Address")


def api(*, for_browsers: bool = True) -> FastAPI:
    app = new_app(settings(), title="Test API", description="a test", max_body_bytes=16, for_browsers=for_browsers)

    @app.post("/who")
    async def who(request: Request) -> dict[str, str]:
        return {"address": caller_address(request)}

    return app


def test_an_app_for_browsers_answers_its_pages_and_reads_the_viewer_header() -> None:
    # GIVEN an API that the site's pages call through its proxy
    with TestClient(api(), client=EDGE) as client:
        # WHEN a page of PRISM_CORS_ORIGINS asks, through the proxy
        res = client.post("/who", json={}, headers={"Origin": PAGE, **VIEWER})
        preflight = client.options("/who", headers={"Origin": PAGE, "Access-Control-Request-Method": "POST"})
        # THEN CORS lets it read the answer, and the caller is the viewer the proxy names
        assert res.status_code == 200, res.text
        assert res.json() == {"address": "203.0.113.7"}
        assert res.headers["access-control-allow-origin"] == PAGE
        assert preflight.status_code == 200
        assert res.headers["x-request-id"]


def test_an_app_not_for_browsers_has_no_cors_and_trusts_no_viewer_header() -> None:
    # GIVEN an API that SDKs call directly (ingestion)
    with TestClient(api(for_browsers=False), client=EDGE) as client:
        # WHEN a caller names an address of its own choosing
        res = client.post("/who", json={}, headers=VIEWER)
        preflight = client.options("/who", headers={"Origin": PAGE, "Access-Control-Request-Method": "POST"})
    # THEN the caller is the connection's address, and no page gets a CORS grant
    assert res.json() == {"address": EDGE[0]}
    assert "access-control-allow-origin" not in res.headers
    assert "access-control-allow-origin" not in preflight.headers


def test_every_app_has_the_edge_the_docs_and_its_settings() -> None:
    app = api()
    assert isinstance(app.state.settings, Settings)
    with TestClient(app, client=EDGE) as client:
        too_large = client.post("/who", content=b"x" * 17, headers={"Content-Type": "application/json"})
        bad_host = client.get("/who", headers={"Host": "evil.example"})
        docs = client.get(DOCS_URL)
    assert (too_large.status_code, too_large.json()["error"]["code"]) == (413, "payload_too_large")
    assert (bad_host.status_code, bad_host.json()["error"]["code"]) == (400, "invalid_host")
    assert docs.status_code == 200 and "swagger-ui-bundle.js" in docs.text
    schema = app.openapi()
    assert "Error" in schema["components"]["schemas"]
    assert schema["paths"]["/who"]["post"]["responses"]["413"]


@pytest.fixture
def root_handlers() -> Iterator[None]:
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    yield
    root.handlers = before
    root.setLevel(level)


def test_the_app_from_the_environment_is_built_once_with_the_services_json_logs(root_handlers: None) -> None:
    # GIVEN a module's namespace, before anything imported its app
    namespace: dict[str, Any] = {}
    built: list[FastAPI] = []

    def build() -> FastAPI:
        built.append(FastAPI())
        return built[-1]

    # WHEN ``app`` is asked for twice, through the namespace as a module's __getattr__ does
    first = app_on_first_access(namespace, "app", "prism-test-first-access", build)
    again = namespace.get("app") or app_on_first_access(namespace, "app", "prism-test-first-access", build)
    # THEN it is built once, kept, and the process logs JSON lines for that service
    assert first is again is built[0] and len(built) == 1
    ours = logging.getLogger().handlers[-1]
    assert isinstance(ours, logging.StreamHandler)
    out = io.StringIO()
    ours.setStream(out)
    logging.getLogger("tests.unit.test_http_app").warning("hello")
    (line,) = [json.loads(x) for x in out.getvalue().splitlines()]
    assert (line["service"], line["message"]) == ("prism-test-first-access", "hello")


def test_any_other_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="handler"):
        app_on_first_access({}, "handler", "prism-test-other-name", FastAPI)
