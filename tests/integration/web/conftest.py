"""Fixtures of the web origin's tests: a static export, the real query API, and a scripted
upstream whose answers the test drives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from prism.adapters.files import FileRawPayloadStore
from prism.adapters.postgres_identity import PostgresIdentityStore
from prism.adapters.postgres_query import PostgresQueryStore
from prism.config import Settings
from query.app import create_app as create_query_app

from tests.support.auth import Caller, Callers, test_identity
from tests.support.net import ThreadServer
from tests.support.upstream import Scripted

CONFIG = {"chatApiUrl": "", "chatStreamUrl": None, "queryApiUrl": ""}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A static export as Next writes it (trailingSlash: one folder per page)."""
    root = tmp_path_factory.mktemp("out")
    (root / "index.html").write_text("<html>home</html>")
    (root / "metrics").mkdir()
    (root / "metrics" / "index.html").write_text("<html>metrics</html>")
    (root / "404.html").write_text("<html>not found page</html>")
    (root / "config.json").write_text(json.dumps(CONFIG))  # nginx serves the file (scripts/web.py its own)
    return root


@pytest.fixture(scope="module")
def scripted() -> Iterator[tuple[Scripted, str]]:
    app = Scripted()
    with ThreadServer(app) as server:
        yield app, server.url


@pytest.fixture
def upstream(scripted: tuple[Scripted, str]) -> Scripted:
    app = scripted[0]
    app.requests.clear()
    for event in (app.release, app.finished, app.disconnected, app.first_chunk):
        event.clear()
    return app


@pytest.fixture(scope="module")
def query_identity(database_url: str) -> Iterator[Callers]:
    store = PostgresIdentityStore(database_url)
    yield Callers(test_identity(store))
    store.close()


@pytest.fixture(scope="module")
def query_session(query_identity: Callers) -> Caller:
    """A member signed in to the query API (its cookie and CSRF header)."""
    return query_identity.session("member")


@pytest.fixture(scope="module")
def query_url(database_url: str, tmp_path_factory: pytest.TempPathFactory, query_identity: Callers) -> Iterator[str]:
    store = PostgresQueryStore(database_url)
    app = create_query_app(Settings(env="test", database_url=database_url), store=store, dashboards=store,
                           raw_store=FileRawPayloadStore(tmp_path_factory.mktemp("raw")),
                           identity=query_identity.identity)  # fmt: skip
    with ThreadServer(app) as server:
        yield server.url
    store.close()
