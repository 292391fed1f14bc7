"""Titles, the history sent to a model, pagination cursors, provider error messages."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

import orjson
import pytest
from chat.gateway import ModelCall, provider_error
from chat.model import ChatMessage, Conversation
from chat.service import history_for_model, title_from
from prism.cursor import decode_cursor, encode_cursor
from prism.errors import ValidationFailedError


def test_title_is_the_first_words_of_the_first_message() -> None:
    assert title_from("  What is   the capital of France? ") == "What is the capital of France?"
    long = "word " * 40
    title = title_from(long)
    assert len(title) <= 61 and title.endswith("…")
    assert title_from("   \n ") == "New conversation"


def _msg(role: str, content: str, status: str = "complete") -> ChatMessage:
    return ChatMessage(uuid.uuid4(), uuid.uuid4(), role, content, status, datetime.now(UTC))  # type: ignore[arg-type]


def test_history_keeps_cancelled_partials_drops_failed_replies_and_merges_the_user_messages() -> None:
    history = [
        _msg("user", "one"),
        _msg("assistant", "partial", "cancelled"),
        _msg("user", "two"),
        _msg("assistant", "", "error"),
        _msg("user", "three"),
    ]
    assert history_for_model(history) == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "partial"},
        {"role": "user", "content": "two\n\nthree"},
    ]


def test_history_after_a_failed_turn_alternates_and_a_retry_is_sent_once() -> None:
    history = [
        _msg("user", "one"),
        _msg("assistant", "", "error"),
        _msg("user", "one"),  # Retry: the same message again
        _msg("assistant", "", "streaming"),
    ]
    assert history_for_model(history) == [{"role": "user", "content": "one"}]


def test_cursor_round_trip_and_garbage() -> None:
    conv = Conversation(uuid.uuid4(), "t", None, datetime.now(UTC), datetime.now(UTC))
    assert decode_cursor(encode_cursor(conv.updated_at, conv.id)) == (conv.updated_at, conv.id)
    for bad in ("x", "!!!", "bm90IGpzb24", encode_cursor(conv.updated_at, conv.id)[:-3]):
        with pytest.raises(ValidationFailedError):
            decode_cursor(bad)


@pytest.mark.parametrize("parts", [["2024-01-01T00:00:00+00:00", [1]], ["2024-01-01T00:00:00+00:00", {"a": 1}], [1, 2]])
def test_a_tampered_cursor_with_non_string_parts_is_a_422_not_a_crash(parts: list[object]) -> None:
    # Found by tests/integration/test_api_fuzz.py: UUID(<list>) raised AttributeError, a 500.
    cursor = base64.urlsafe_b64encode(orjson.dumps(parts)).decode().rstrip("=")
    with pytest.raises(ValidationFailedError):
        decode_cursor(cursor)


KEY = "sk-live-SECRETSECRETSECRET-9876"


def _call() -> ModelCall:
    return ModelCall(
        provider="openai_compatible",
        model="m",
        messages=[],
        conversation_id="c",
        message_id="m",
        api_key=KEY,
        api_base="http://127.0.0.1:1/v1",
        read_timeout_s=7,
    )


def _exc(name: str, status: int | None, message: str = "boom") -> Exception:
    cls = type(name, (Exception,), {})
    exc = cls(message)
    if status is not None:
        exc.status_code = status  # type: ignore[attr-defined]
    return exc


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("AuthenticationError", 401, "provider_auth_failed"),
        ("RateLimitError", 429, "provider_rate_limited"),
        ("Timeout", 408, "provider_timeout"),
        ("APIConnectionError", 500, "provider_unreachable"),
        ("NotFoundError", 404, "model_not_found"),
        ("ContextWindowExceededError", 400, "context_too_long"),
        ("InternalServerError", 503, "provider_unavailable"),
        ("BadRequestError", 400, "provider_error"),
    ],
)
def test_provider_failures_become_actionable_messages(name: str, status: int, code: str) -> None:
    err = provider_error(_exc(name, status, f"upstream said {KEY} is wrong"), _call())
    assert err.code == code
    assert KEY not in err.message
    assert len(err.message) > 20


def test_connection_refused_names_the_endpoint() -> None:
    err = provider_error(ConnectionRefusedError(111, "refused"), _call())
    assert err.code == "provider_unreachable"
    assert "http://127.0.0.1:1/v1" in err.message
