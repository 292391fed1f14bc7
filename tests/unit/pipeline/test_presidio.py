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


def test_runs_the_regex_redactor_first(presidio: PresidioRedactor) -> None:
    """Presidio is opt-in for more recall: it never finds less than the default redactor."""
    text = (
        "password=hunter2, call 0044 20 7946 0958, from ::ffff:192.0.2.128, "
        "postgres://admin:s3cret@db.example.com/app, IBAN: ES91 2100 0418 4502 0005 1332 BIC: CAIXESBBXXX"
    )
    result = presidio.redact(text)
    for value in ("hunter2", "7946 0958", "192.0.2.128", "s3cret", "ES91"):
        assert value not in result.text, value
    assert "db.example.com" in result.text and "BIC: CAIXESBBXXX" in result.text
    assert result.counts["SECRET"] == 2 and result.counts["IBAN"] == 1


def test_long_text_is_analysed_in_windows(presidio: PresidioRedactor, monkeypatch: pytest.MonkeyPatch) -> None:
    """Presidio sees windows of bounded size (its own patterns are not all linear, and it compares
    its findings pairwise); a finding across a window boundary is still found, and only once."""
    from types import SimpleNamespace

    seen: list[int] = []

    class Analyzer:
        def analyze(self, text: str, **_: object) -> list[SimpleNamespace]:
            seen.append(len(text))
            found, i = [], text.find("SECRETNAME")
            while i != -1:
                found.append(SimpleNamespace(start=i, end=i + 10, score=0.9, entity_type="EMAIL_ADDRESS"))
                i = text.find("SECRETNAME", i + 1)
            return found

    monkeypatch.setattr(presidio, "_analyzer", Analyzer())
    window = PresidioRedactor.WINDOW
    text = "x" * (window - 4) + "SECRETNAME" + "y" * (2 * window) + "SECRETNAME" + "z" * 100
    result = presidio.redact(text)
    assert result.text == "x" * (window - 4) + "[EMAIL]" + "y" * (2 * window) + "[EMAIL]" + "z" * 100
    assert result.counts == {"EMAIL": 2}
    assert len(seen) == 3 and max(seen) <= window + PresidioRedactor.OVERLAP
