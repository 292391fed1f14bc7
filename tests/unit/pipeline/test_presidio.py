"""PRISM_REDACTOR=presidio works offline (no spaCy model, no network) and keeps secrets covered."""

from __future__ import annotations

import pytest
from prism.redact import PresidioRedactor, make_redactor


@pytest.fixture(scope="module")
def presidio() -> PresidioRedactor:
    redactor = make_redactor("presidio")
    assert isinstance(redactor, PresidioRedactor)
    return redactor


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
