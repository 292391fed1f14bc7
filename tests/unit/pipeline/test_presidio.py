"""PRISM_REDACTOR=presidio works offline (no spaCy model, no network) and keeps secrets covered."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from prism.redact import PresidioRedactor, make_redactor


@pytest.fixture(scope="module")
def presidio() -> Iterator[PresidioRedactor]:
    """Built and used with every outbound connection refused: proof that it needs no network."""
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else str(address)
        if not str(host).startswith(("127.", "::1", "localhost", "/")):
            attempts.append(address)
            raise OSError(f"network disabled in this test: {address}")
        real_connect(self, address)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", guarded)
        redactor = make_redactor("presidio")
        assert isinstance(redactor, PresidioRedactor)
        redactor.redact("warm up with jane@example.com and 4111 1111 1111 1111")
        yield redactor
    assert attempts == [], f"Presidio tried to reach the network: {attempts}"


def test_finds_pii_offline(presidio: PresidioRedactor) -> None:
    result = presidio.redact(
        "Mail jane.doe@example.com, card 4111 1111 1111 1111, from 192.168.1.20, "
        "key sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"
    )
    assert "jane.doe@example.com" not in result.text and "[EMAIL]" in result.text
    assert "4111 1111 1111 1111" not in result.text and "[CREDIT_CARD]" in result.text
    assert "192.168.1.20" not in result.text
    assert "[SECRET]" in result.text
    assert result.counts["EMAIL"] == 1 and result.counts["SECRET"] == 1


def test_leaves_plain_text(presidio: PresidioRedactor) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    assert presidio.redact(text).text == text
