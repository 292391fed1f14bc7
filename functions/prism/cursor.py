"""Keyset pagination cursors: an opaque, URL-safe encoding of the last item's (timestamp, id)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from uuid import UUID

import orjson

from prism.errors import ValidationFailedError


def encode_cursor(moment: datetime, item_id: UUID) -> str:
    raw = orjson.dumps([moment.isoformat(), str(item_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """The (timestamp, id) of a cursor made by :func:`encode_cursor`; 422 for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ts, item_id = orjson.loads(raw)
        if not isinstance(ts, str) or not isinstance(item_id, str):
            raise TypeError("a cursor is [timestamp, id]")
        moment = datetime.fromisoformat(ts)
        if moment.tzinfo is None:
            raise ValueError("naive")
        return moment, UUID(item_id)
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise ValidationFailedError(
            "cursor is not valid: pass back the next_cursor of the previous page", code="invalid_cursor"
        ) from exc
