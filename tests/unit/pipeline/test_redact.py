"""GIVEN text with PII or secrets WHEN redacted THEN each is replaced by its [TYPE] and counted."""

from __future__ import annotations

import pytest
from prism.redact import RegexRedactor, iban_ok, luhn_ok, redact_event

R = RegexRedactor()


_PII_CASES = [
    ("write to jane.doe+tag@mail.example.co.uk today", "EMAIL"),
    ("call 415-555-0199 now", "PHONE"),
    ("call (212) 555-1234 now", "PHONE"),
    ("call +44 20 7946 0958 now", "PHONE"),
    ("call +14155550199 now", "PHONE"),
    ("ssn 123-45-6789 on file", "US_SSN"),
    ("card 4111 1111 1111 1111 exp", "CREDIT_CARD"),
    ("card 5500-0000-0000-0004 exp", "CREDIT_CARD"),
    ("card 378282246310005 amex", "CREDIT_CARD"),
    ("from 192.168.1.20 today", "IP_ADDRESS"),
    ("from 2001:db8::8a2e:370:7334 today", "IP_ADDRESS"),
    ("from fe80::1 today", "IP_ADDRESS"),
    ("iban DE89 3704 0044 0532 0130 00 ok", "IBAN"),
    ("iban GB82WEST12345698765432 ok", "IBAN"),
    ("key sk-proj-abcdefghijklmnopqrstuvwxyz0123456789 ok", "SECRET"),
    ("key sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789 ok", "SECRET"),
    ("key AKIAIOSFODNN7EXAMPLE ok", "SECRET"),
    ("google AIzaSyA1234567890abcdefghijklmnopqrstuv ok", "SECRET"),
    ("Authorization: Bearer abcdefghijklmnop0123456789 ok", "SECRET"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "SECRET"),
    ("gh ghp_abcdefghijklmnopqrstuvwxyz0123456789AB ok", "SECRET"),
]


@pytest.mark.parametrize(("text", "kind"), _PII_CASES)
def test_finds_each_type(text: str, kind: str) -> None:
    result = R.redact(text)
    assert f"[{kind}]" in result.text
    assert result.counts == {kind: 1}


@pytest.mark.parametrize(
    "text",
    [
        "The meeting is on 2026-11-27 at 12:30:45, version 1.2.3.",
        "2026-11-27T07:00:00.300000Z",
        "pi is 3.14159265 and the total is 12,345.67 USD",
        "order 12345 shipped; tracking 4111 1111 1111 1112 (not a valid card)",
        "ratio 16:9 and time 10:30",
        "plain prose without anything sensitive in it at all",
    ],
)
def test_leaves_lookalikes(text: str) -> None:
    assert R.redact(text).text == text


def test_counts_several() -> None:
    result = R.redact("a@b.io, c@d.io and 415-555-0199")
    assert result.text == "[EMAIL], [EMAIL] and [PHONE]"
    assert result.counts == {"EMAIL": 2, "PHONE": 1}


def test_validators() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("DE89370400440532013000") and not iban_ok("DE89370400440532013001")


def test_redact_event_walks_content_and_keeps_structure() -> None:
    event = {
        "id": "5b0f8f0e-2f4e-4c1e-9a51-0c6a4f5a9d01",
        "ts_start": "2026-11-27T07:00:00.300000Z",
        "model": "gpt-4o",
        "request": {"messages": [{"role": "user", "content": [{"type": "text", "text": "mail a@b.io"}]}]},
        "tool_invocations": [{"name": "f", "arguments": {"to": "a@b.io"}, "ts_start": "2026-11-27T07:00:00.300000Z"}],
        "metadata": {"nested": ["call 415-555-0199"]},
        "user_id": "a@b.io",
    }
    counts = redact_event(event, R)
    assert counts == {"EMAIL": 3, "PHONE": 1}
    assert event["request"]["messages"][0]["content"][0]["text"] == "mail [EMAIL]"
    assert event["tool_invocations"][0]["arguments"] == {"to": "[EMAIL]"}
    assert event["tool_invocations"][0]["ts_start"] == "2026-11-27T07:00:00.300000Z"
    assert event["metadata"] == {"nested": ["call [PHONE]"]}
    assert event["user_id"] == "[EMAIL]"


def test_reference_ids_are_structure_not_content() -> None:
    event = {"trace_id": "4111111111111111111", "conversation_id": "415-555-0199", "user_id": "a@b.io"}
    assert redact_event(event, R) == {"EMAIL": 1}
    assert event["trace_id"] == "4111111111111111111" and event["conversation_id"] == "415-555-0199"


def test_may_find_never_misses_what_redact_would_change() -> None:
    """The ingestion fast path skips redaction when may_find says no: it must be conservative,
    including on the JSON form of the strings (quotes, escapes, separators between values)."""
    import json
    import random

    rng = random.Random(7)
    alphabet = "0123456789 -.()+/:@abcdefABCDEF_xyzskAIZ\n\"'"
    seeds = [text for text, _ in _PII_CASES]
    checked = 0
    for i in range(4000):
        if i % 4 == 0:
            base = rng.choice(seeds)
            cut = rng.randrange(len(base))
            text = base[:cut] + "".join(rng.choice(alphabet) for _ in range(rng.randrange(4))) + base[cut:]
        else:
            text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(6, 40)))
        if R.redact(text).counts:
            checked += 1
            assert R.may_find(json.dumps({"content": text, "other": ["x"]})), text
    assert checked > 500


def test_may_find_says_no_to_plain_prose() -> None:
    import json

    prose = "Summarise the report in 200 words: revenue grew 12% to 4.2 million. Thanks!\nBest, the team"
    assert not R.may_find(json.dumps({"messages": [{"role": "user", "content": prose}]}))
    assert R.redact(prose).counts == {}
