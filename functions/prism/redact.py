"""PII and secret redaction, applied at the ingestion boundary before anything is stored.

``RegexRedactor`` (default) is one compiled pass with validators (Luhn for cards, mod-97 for
IBANs, ``ipaddress`` for IPv6). ``PresidioRedactor`` (``PRISM_REDACTOR=presidio``) runs
Microsoft Presidio offline, after the same secret patterns (Presidio has no API-key recognizers).
Placeholders are ``[TYPE]``; counts per type are kept on the row.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from prism.ports import Redaction, Redactor

# (substrings one of which the text must contain, pattern). Each pattern starts with a literal,
# so the regex engine skips ahead fast; it only runs when one of its hints is present. A group
# named "keep" is context (the word "Bearer", a key name) that stays in the text.
_SECRETS: list[tuple[tuple[str, ...], str]] = [
    (("sk-",), r"sk-(?:proj-|svcacct-|admin-|ant-(?:api|admin)\d{2}-)?[A-Za-z0-9_\-]{20,}"),  # OpenAI, Anthropic
    (("sk_", "rk_"), r"[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"),  # Stripe
    (("AIza",), r"AIza[0-9A-Za-z_\-]{35}"),  # Google API key
    (("AKIA", "ASIA", "ABIA", "ACCA"), r"(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}"),  # AWS access key id
    (
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        r"gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,}",
    ),
    (("xox",), r"xox[abposr]-[A-Za-z0-9-]{10,}"),  # Slack
    (("hf_",), r"hf_[A-Za-z0-9]{30,}"),  # Hugging Face
    (("eyJ",), r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),  # JWT
    (("earer",), r"(?P<keep>[Bb]earer\s+)[A-Za-z0-9._~+/\-]{16,}=*"),  # bearer tokens
    (("_secret_", "_SECRET_"), r"(?P<keep>(?i:aws_secret_access_key)[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9/+]{40}"),
    (("PRIVATE KEY",), r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+?-----END [A-Z ]*PRIVATE KEY-----"),
]
_SECRET = r"|".join(f"(?:{p.replace('?P<keep>', '')})" for _, p in _SECRETS)
_EMAIL = r"(?<![\w.+-])[A-Za-z0-9._%+\-]++@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
_IPV6 = r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{0,4}|(?:\d{1,3}\.){3}\d{1,3})(?![\w:])"
# Numbers (and IBANs) are found in two steps: one cheap pass for runs of digits and separators,
# then the specific patterns inside each run. Order matters: first alternative wins.
_CANDIDATE = r"\d[\d ()+.\-/A-Z]{4,}[\dA-Z]"
_NUMBERS: list[tuple[str, str]] = [
    ("IBAN", r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b"),
    ("US_SSN", r"(?<![\d-])(?!000|666|9\d\d)\d{3}(?P<sep>[- ])(?!00)\d{2}(?P=sep)(?!0000)\d{4}(?![\d-])"),
    ("CREDIT_CARD", r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])"),
    (
        "PHONE",
        r"(?<![\w+])(?<!\d\.)(?:"
        r"\+\d{1,3}[ .\-]?(?:\(\d{1,4}\)|\d{1,4})(?:[ .\-]?\d{2,4}){2,4}"  # +44 20 7946 0958
        r"|\(\d{3}\)[ .\-]?\d{3}[ .\-]\d{4}"  # (212) 555-1234
        r"|\d{3}(?P<psep>[ .\-])\d{3}(?P=psep)\d{4}"  # 415-555-0199
        r"|0\d{2,4}[ \-]\d{3,4}[ \-]?\d{3,4}"  # 020 7946 0958
        r"|\+\d{10,14}"
        r")(?!\w|\.\d)",
    ),
    (
        "IP_ADDRESS",
        r"(?<!\w)(?<!\d\.)(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\w|\.\d)",
    ),
]

ENTITY_TYPES = ("SECRET", "EMAIL", "IBAN", "CREDIT_CARD", "US_SSN", "PHONE", "IP_ADDRESS")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    s = text.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    try:
        return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1
    except ValueError:
        return False


def _card_ok(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def _ip_ok(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


_VALIDATORS: dict[str, Callable[[str], bool]] = {"IBAN": iban_ok, "CREDIT_CARD": _card_ok, "IP_ADDRESS": _ip_ok}


def _phone_ok(text: str) -> bool:
    digits = sum(c.isdigit() for c in text)
    return 7 <= digits <= 15


_VALIDATORS["PHONE"] = _phone_ok


_HEX = frozenset("0123456789abcdefABCDEF:")


def _may_hold_ipv6(text: str) -> bool:
    """True if some ':' has a hex digit or ':' on both sides (prose colons are followed by a space)."""
    i = text.find(":")
    while i != -1:
        if 0 < i < len(text) - 1 and text[i - 1] in _HEX and text[i + 1] in _HEX:
            return True
        if i == 0 and text[1:2] == ":":
            return True
        i = text.find(":", i + 1)
    return False


class RegexRedactor:
    """The default redactor: cheap gates first, then compiled patterns with validators."""

    name = "regex"

    def __init__(self) -> None:
        self._secrets = [(hints, re.compile(p)) for hints, p in _SECRETS]
        self._email = re.compile(_EMAIL)
        self._ipv6 = re.compile(_IPV6)
        self._candidate = re.compile(_CANDIDATE)
        self._numbers = re.compile("|".join(f"(?P<g{i}>{p})" for i, (_, p) in enumerate(_NUMBERS)))
        self._number_types = {f"g{i}": kind for i, (kind, _) in enumerate(_NUMBERS)}

    def redact(self, text: str) -> Redaction:
        if len(text) < 6:  # the shortest thing we look for is an e-mail like a@b.io
            return Redaction(text, {})
        counts: dict[str, int] = {}  # a plain dict: Counter() costs more than a whole regex pass here

        def fixed(kind: str) -> Callable[[re.Match[str]], str]:
            def replace(m: re.Match[str]) -> str:
                counts[kind] = counts.get(kind, 0) + 1
                return f"[{kind}]"

            return replace

        def secret(m: re.Match[str]) -> str:
            counts["SECRET"] = counts.get("SECRET", 0) + 1
            keep = m.groupdict().get("keep")
            return f"{keep}[SECRET]" if keep else "[SECRET]"

        def ip(m: re.Match[str]) -> str:
            if not _ip_ok(m.group(0)):
                return m.group(0)
            counts["IP_ADDRESS"] = counts.get("IP_ADDRESS", 0) + 1
            return "[IP_ADDRESS]"

        def number(m: re.Match[str]) -> str:
            kind = self._number_types[m.lastgroup or ""]
            check = _VALIDATORS.get(kind)
            if check is not None and not check(m.group(0)):
                return m.group(0)
            counts[kind] = counts.get(kind, 0) + 1
            return f"[{kind}]"

        underscore, dash = "_" in text, "-" in text
        for hints, pattern in self._secrets:
            for hint in hints:
                # Most hints contain "_" or "-": one test of that character rules them all out.
                if (("_" in hint and not underscore) or ("-" in hint and not dash)) or hint not in text:
                    continue
                text = pattern.sub(secret, text)
                break
        if "@" in text:
            text = self._email.sub(fixed("EMAIL"), text)
        if _may_hold_ipv6(text):
            text = self._ipv6.sub(ip, text)
        text = self._numbers_in(text, number)
        return Redaction(text, counts)

    def may_find(self, text: str) -> bool:
        """False only if ``redact`` would change nothing in ``text`` (or in the strings that make up
        its JSON serialisation: JSON escapes only quotes, backslashes and control characters, none
        of which any pattern spans). One cheap pass; ingestion skips redaction when it says no."""
        if "@" in text or _may_hold_ipv6(text):
            return True
        if any(hint in text for hints, _ in self._secrets for hint in hints):
            return True
        return self._candidate.search(text) is not None

    def _numbers_in(self, text: str, number: Callable[[re.Match[str]], str]) -> str:
        """Find runs of digits and separators in one cheap pass (widened to a leading '+', '('
        or IBAN country code), then run the precise number patterns on each run only."""
        out: list[str] = []
        pos = 0
        for m in self._candidate.finditer(text):
            start, end = m.span()
            if start >= 2 and text[start - 2 : start].isalpha() and text[start - 2 : start].isupper():
                start -= 2
            elif start >= 1 and text[start - 1] in "+(":
                start -= 1
            start = max(start, pos)
            if end - start < 7:
                continue
            run = text[start:end]
            new = self._numbers.sub(number, run)
            if new != run:
                out.append(text[pos:start])
                out.append(new)
                pos = end
        if not out:
            return text
        out.append(text[pos:])
        return "".join(out)


class PresidioRedactor:
    """Presidio (offline, no NER model) for PII, after the regex pass for secrets."""

    name = "presidio"
    _ENTITIES = {
        "EMAIL_ADDRESS": "EMAIL",
        "PHONE_NUMBER": "PHONE",
        "US_SSN": "US_SSN",
        "CREDIT_CARD": "CREDIT_CARD",
        "IP_ADDRESS": "IP_ADDRESS",
        "IBAN_CODE": "IBAN",
    }

    def __init__(self, score_threshold: float = 0.35) -> None:
        os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
        os.environ.setdefault("TLDEXTRACT_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "tldextract"))
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider

        nlp = NlpEngineProvider(
            nlp_configuration={"nlp_engine_name": "no_op", "models": [{"lang_code": "en", "model_name": "no_op"}]}
        ).create_engine()
        self._analyzer = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
        self._threshold = score_threshold
        self._secrets = re.compile(_SECRET)

    def may_find(self, text: str) -> bool:
        return True  # no cheap way to know what Presidio would find

    def redact(self, text: str) -> Redaction:
        counts: Counter[str] = Counter()

        def secret(m: re.Match[str]) -> str:
            counts["SECRET"] += 1
            return "[SECRET]"

        text = self._secrets.sub(secret, text)
        results = self._analyzer.analyze(
            text=text, language="en", entities=list(self._ENTITIES), score_threshold=self._threshold
        )
        # Replace right to left, skipping overlaps (keep the higher score / longer span).
        chosen: list[Any] = []
        for r in sorted(results, key=lambda r: (-r.score, -(r.end - r.start))):
            if all(r.end <= c.start or r.start >= c.end for c in chosen):
                chosen.append(r)
        for r in sorted(chosen, key=lambda r: r.start, reverse=True):
            kind = self._ENTITIES[r.entity_type]
            counts[kind] += 1
            text = text[: r.start] + f"[{kind}]" + text[r.end :]
        return Redaction(text, dict(counts))


def make_redactor(name: str) -> Redactor:
    if name == "presidio":
        return PresidioRedactor()
    return RegexRedactor()


# Fields of an event that are structure, not content: never rewritten.
STRUCTURAL_FIELDS = frozenset(
    {
        "schema_version",
        "id",
        "conversation_id",
        "message_id",
        "trace_id",
        "ts_start",
        "ts_first_token",
        "ts_end",
        "provider",
        "model",
        "status",
        "usage",
        "cost_usd",
        "cost_note",
        "sdk",
        "span_id",
    }
)


# Where structure lives inside the content fields: for a container, the keys whose values are
# structure ("keep": message roles, tool-call ids, finish reasons...) and the spec of its children.
# Everything not listed is content, whatever its key: ``metadata.id`` or a tool argument named
# ``status`` is scanned like any other value.
_Spec = dict[str, Any]
_TOOL_CALL: _Spec = {"keep": {"id", "type"}, "children": {"function": {"keep": {"name"}}}}
_SPEC: dict[str, _Spec] = {
    "request": {
        "children": {
            "messages": {
                "each": {
                    "keep": {"role", "tool_call_id"},
                    "children": {"content": {"each": {"keep": {"type"}}}, "tool_calls": {"each": _TOOL_CALL}},
                }
            }
        }
    },
    "response": {
        "keep": {"model", "finish_reason"},
        "children": {"tool_calls": {"each": {"keep": {"id", "type", "name"}}}},
    },
    "tool_invocations": {"each": {"keep": {"id", "name", "status", "ts_start", "ts_end"}}},
}
_EMPTY: _Spec = {}
_DATA_URL_MIN = 1024  # inline images/files ("data:...;base64,...") are not text: not scanned


_SEP = "\x1e"  # ASCII record separator: no pattern matches across it (checked after each pass)


def redact_event(event: dict[str, Any], redactor: Redactor) -> dict[str, int]:
    """Redact every string of an event's content in place; returns the counts per type.

    The strings are joined with a separator and redacted in one pass (a few large regex scans
    cost far less than many small ones); if a match ever swallowed a separator, each string is
    redacted on its own instead.
    """
    slots: list[tuple[Any, Any, str]] = []

    def collect(container: Any, key: Any, value: Any, spec: _Spec) -> None:
        if isinstance(value, str):
            if len(value) >= 6 and not (len(value) > _DATA_URL_MIN and value.startswith("data:")):
                slots.append((container, key, value))
        elif isinstance(value, dict):
            keep = spec.get("keep", ())
            children = spec.get("children", _EMPTY)
            for k, v in value.items():
                if k not in keep:
                    collect(value, k, v, children.get(k, _EMPTY))
        elif isinstance(value, list):
            each = spec.get("each", _EMPTY)
            for i, v in enumerate(value):
                collect(value, i, v, each)

    for key, value in event.items():
        if key not in STRUCTURAL_FIELDS and value is not None:
            collect(event, key, value, _SPEC.get(key, _EMPTY))
    if not slots:
        return {}
    joined = _SEP.join(text for _, _, text in slots)
    result = redactor.redact(joined)
    if not result.counts:
        return {}
    parts = result.text.split(_SEP)
    if len(parts) == len(slots):
        for (container, key, _), text in zip(slots, parts, strict=True):
            container[key] = text
        return result.counts
    totals: Counter[str] = Counter()
    for container, key, text in slots:
        one = redactor.redact(text)
        container[key] = one.text
        totals.update(one.counts)
    return dict(totals)
