"""Write each API's OpenAPI document to ``web/openapi/<api>.json``; ``npm run gen:api`` (in web/)
then generates the web UI's types from them into ``web/src/lib/generated/<api>.ts``.

    python -m scripts.openapi [--out web/openapi]     # then: cd web && npm run gen:api

The apps are built as the tests build them, on in-memory fakes: no database, bus or provider is
reached, and nothing in the documents depends on the environment. Both the documents and the types
are checked in; ``tests/unit/deploy/test_openapi_types.py`` regenerates them and fails when they
differ, so they cannot drift from the code.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "web" / "openapi"


def _ingestion() -> FastAPI:
    from ingestion.app import create_app
    from prism.adapters.memory import MemoryBus, MemoryRawPayloadStore
    from prism.config import Settings
    from prism.ingest import Ingestor
    from prism.redact import make_redactor

    settings = Settings(env="test", api_key="openapi", rate_limit_storage="memory://")
    return create_app(settings, Ingestor(MemoryBus(), make_redactor("regex"), MemoryRawPayloadStore()))


def _chat() -> FastAPI:
    from chat.app import create_app
    from chat.config import ChatSettings
    from chat.gateway import LiteLLMGateway
    from prism.adapters.memory import InMemoryChatStore

    async def no_model(**_kwargs: Any) -> Any:
        raise RuntimeError("the OpenAPI document calls no model")

    store = InMemoryChatStore()
    return create_app(
        ChatSettings(env="test", demo_model=False, rate_limit_storage="memory://"),
        store=store,
        credential_store=store,
        gateway=LiteLLMGateway(no_model, sdk=False),
        configure_sdk=False,
    )


def _query() -> FastAPI:
    from prism.adapters.memory import MemoryDashboardStore, MemoryQueryStore, MemoryRawPayloadStore
    from prism.config import Settings
    from query.app import create_app

    return create_app(
        Settings(env="test"),
        store=MemoryQueryStore(),
        dashboards=MemoryDashboardStore(),
        raw_store=MemoryRawPayloadStore(),
    )


def _identity() -> FastAPI:
    from identity.app import create_app
    from prism.adapters.memory import MemoryIdentityStore
    from prism.config import Settings
    from prism.identity.service import IdentityService

    return create_app(Settings(env="test"), identity=IdentityService(MemoryIdentityStore()))


APIS: dict[str, Callable[[], FastAPI]] = {
    "chat": _chat,
    "identity": _identity,
    "ingestion": _ingestion,
    "query": _query,
}


def document(api: str) -> str:
    """The API's OpenAPI document as written to disk (indented JSON, one trailing newline)."""
    return json.dumps(APIS[api]().openapi(), indent=2, ensure_ascii=False) + "\n"


def write(out: Path = OUT) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for api in APIS:
        path = out / f"{api}.json"
        path.write_text(document(api), encoding="utf-8")
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=OUT, help="directory of the documents (default web/openapi)")
    args = parser.parse_args()
    for path in write(args.out):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    main()
