"""Reading a row's raw payload: from the RawPayloadStore when the row has a ``raw_payload_uri``,
else from ``raw_payload_jsonb``. Every reader (the logs detail view, exports) goes through here, so
moving payloads to S3 is a write-path change only."""

from __future__ import annotations

from typing import Any

import orjson

from prism.errors import StoreError
from prism.ports import RawPayloadStore
from prism.records import PAYLOAD_KEYS


def load_payload(uri: str | None, inline: Any, store: RawPayloadStore | None) -> dict[str, Any] | None:
    """The ``{"request": ..., "response": ...}`` of a row, wherever it lives (None if not kept)."""
    if uri:
        if store is None:
            raise StoreError(f"payload is at {uri} but no raw payload store is configured")
        try:
            event = orjson.loads(store.get(uri))
        except orjson.JSONDecodeError as exc:
            raise StoreError(f"raw payload at {uri} is not JSON: {exc}") from exc
        return {k: event.get(k) for k in PAYLOAD_KEYS}
    if inline is None:
        return None
    return orjson.loads(inline) if isinstance(inline, str | bytes) else dict(inline)
