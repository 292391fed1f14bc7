"""/docs and /redoc of the three APIs work offline: every script, style and icon they load is served by
the API itself (from the fastapi-standalone-docs package), none comes from a CDN."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prism.adapters.memory import MemoryBus, MemoryRawPayloadStore
from prism.config import Settings
from prism.http import install_docs
from prism.ingest import Ingestor
from prism.redact import make_redactor

# What the pages load: <script src>, <link href>, and the OpenAPI document the UI fetches.
_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|(?:url|spec-url)\s*[:=]\s*["']([^"']+)["']""")


def _ingestion() -> FastAPI:
    from ingestion.app import create_app

    ingestor = Ingestor(MemoryBus(), make_redactor("regex"), MemoryRawPayloadStore())
    return create_app(Settings(env="test", api_key="k"), ingestor)


def _query() -> FastAPI:
    from prism.adapters.postgres_query import PostgresQueryStore  # opens no connection until used
    from query.app import create_app

    store = PostgresQueryStore("postgresql://nobody@127.0.0.1:9/none")
    return create_app(Settings(env="test"), store=store, dashboards=store, raw_store=MemoryRawPayloadStore())


def _chat() -> FastAPI:
    from chat.app import create_app
    from prism.adapters.memory import InMemoryChatStore

    from tests.unit.chat.conftest import FakeDemo, FakeGateway, make_settings

    store = InMemoryChatStore()
    return create_app(
        make_settings(),
        store=store,
        credential_store=store,
        gateway=FakeGateway(),
        demo=FakeDemo(),  # type: ignore[arg-type]
    )


def _identity() -> FastAPI:
    from identity.app import create_app
    from prism.adapters.memory import MemoryIdentityStore
    from prism.identity.service import IdentityService

    return create_app(Settings(env="test"), identity=IdentityService(MemoryIdentityStore()))


APPS = {"ingestion": _ingestion, "query": _query, "chat": _chat, "identity": _identity}


@pytest.fixture(params=sorted(APPS))
def client(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    with TestClient(APPS[request.param]()) as c:
        yield c


def _references(html: str) -> list[str]:
    return [a or b for a, b in _URL.findall(html)]


@pytest.mark.parametrize(("page", "kinds"), [("/docs", {"js", "css", "png"}), ("/redoc", {"js", "png"})])
def test_the_docs_pages_load_only_assets_served_by_the_api(client: TestClient, page: str, kinds: set[str]) -> None:
    # GIVEN an API; WHEN its docs page is fetched
    resp = client.get(page)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html"), resp.text[:300]
    html = resp.text
    # THEN nothing in it points at another host (no CDN, no web fonts, no validator badge)
    assert "://" not in html and "//" not in html.replace("://", ""), html
    refs = _references(html)
    assert "/openapi.json" in refs
    assets = [r for r in refs if r != "/openapi.json"]
    assert {r.rsplit(".", 1)[-1] for r in assets} == kinds, refs
    # AND every asset it names is served here, with the right type and real content
    for url in assets:
        assert url.startswith(("/docs/", "/redoc/")), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        kind = url.rsplit(".", 1)[-1]
        want = {"js": "javascript", "css": "text/css", "png": "image/png"}[kind]
        assert want in asset.headers["content-type"], (url, asset.headers["content-type"])
        if kind == "js":
            assert len(asset.content) > 500_000 and (b"SwaggerUIBundle" in asset.content or b"Redoc" in asset.content)
        if kind == "css":
            assert b".swagger-ui" in asset.content
    assert client.get("/openapi.json").json()["info"]["title"].startswith("Prism ")


def test_the_swagger_page_turns_off_the_public_validator(client: TestClient) -> None:
    assert '"validatorUrl": null' in client.get("/docs").text


def test_redoc_finds_its_logo_where_its_patched_bundle_looks(client: TestClient) -> None:
    # The bundle loads its logo from `window.location.pathname + "/logo-mini.svg"`.
    bundle = client.get("/redoc/redoc.standalone.js").content
    assert b'window.location.pathname+"/logo-mini.svg"' in bundle
    logo = client.get("/redoc/logo-mini.svg")
    assert logo.status_code == 200 and logo.headers["content-type"].startswith("image/svg+xml")


def test_an_unknown_asset_is_a_json_404(client: TestClient) -> None:
    resp = client.get("/docs/nothing-here.js")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"


def test_behind_a_path_prefix_the_pages_name_prefixed_urls() -> None:
    # GIVEN an API served under /prism (a proxy's root path)
    with TestClient(_query(), root_path="/prism") as client:
        html = client.get("/docs").text
        refs = _references(html)
        # THEN every URL in the page carries the prefix
        assert refs and all(r.startswith("/prism/") for r in refs), refs
        assert "/prism/openapi.json" in refs


def test_an_app_built_with_fastapis_cdn_pages_is_refused() -> None:
    with pytest.raises(ValueError, match="docs_url=None"):
        install_docs(FastAPI())
