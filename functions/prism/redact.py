"""PII and secret redaction, applied at the ingestion boundary before anything is stored.

``RegexRedactor`` (default) runs a few compiled passes with validators (Luhn for cards, mod-97
and the country's length for IBANs, ``ipaddress`` for IPv6). ``PresidioRedactor``
(``PRISM_REDACTOR=presidio``) runs the same passes, then Microsoft Presidio offline.
Placeholders are ``[TYPE]``; counts per type are kept on the row.

Every pattern runs in time linear in its input, whatever the input (the ingestion API redacts
untrusted text): a match can only start where a run of its characters starts (a lookbehind, or a
literal that cannot occur inside the run), every unbounded repetition is possessive (``*+``,
``++``: no backtracking into it), and what is left to backtrack over is bounded by a constant.
``tests/unit/pipeline/test_redact.py`` feeds adversarial inputs to every pattern at 1 MiB.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import math
import os
import re
from collections.abc import Iterator
from typing import Any

from prism.ports import Redaction, Redactor

# --- Secrets ---------------------------------------------------------------------------------
# (a character the text must contain or "", what else it must contain: a substring or a regex,
# pattern). A pattern only runs when its gate is passed. A group named "keep" is context (the word
# "Bearer", a URL prefix) that stays. The gates cost more than the patterns on most text: a regex
# gate whose first letter is rare (A, g, x) scans faster than several substring tests.
_B64 = r"[A-Za-z0-9_\-]"  # base64url
_PEM_LABEL = r"(?:[A-Z0-9]{1,20}[ ]){0,4}PRIVATE KEY(?: BLOCK)?-----"
_SECRETS: list[tuple[str, str | re.Pattern[str], str]] = [
    # OpenAI, Anthropic (sk-proj-..., sk-ant-api03-...); not the tail of a word ("task-list-...").
    ("-", "sk-", r"sk-(?<![A-Za-z0-9]sk-)[A-Za-z0-9_\-]{20,}+"),
    ("_", "k_", r"(?<![A-Za-z0-9])[sr]k_(?:live|test)_[A-Za-z0-9]{16,}+"),  # Stripe
    ("", "AIza", r"AIza[0-9A-Za-z_\-]{35}"),  # Google API key
    ("", re.compile("A(?:KIA|SIA|BIA|CCA)"), r"(?<![0-9A-Z])A(?:KIA|SIA|BIA|CCA)[0-9A-Z]{16}(?![0-9A-Z])"),  # AWS
    ("_", re.compile("gh[pousr]_|github_pat_"), r"gh[pousr]_[A-Za-z0-9]{36,}+|github_pat_[A-Za-z0-9_]{40,}+"),
    (  # GitLab personal, deploy, runner, CI job, OAuth... tokens
        "-",
        re.compile("gl(?:pat|dt|rt|ptt|cbt|imt|soat|oas|agent|ffct)-"),
        r"(?<![A-Za-z0-9])gl(?:pat|dt|rt|ptt|cbt|imt|soat|oas|agent|ffct)-[A-Za-z0-9_\-]{20,}+(?:\.[A-Za-z0-9_\-]++)*+",
    ),
    ("_", "npm_", r"(?<![A-Za-z0-9])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])"),  # npm access token
    ("-", "pypi-AgEI", r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}+"),  # PyPI API token
    (  # Slack bot/user/refresh tokens, app-level tokens
        "-",
        re.compile("xox|xapp-"),
        r"(?:xoxe\.)?xox[abposre]-[A-Za-z0-9\-]{10,}+|xapp-\d-[A-Za-z0-9\-]{10,}+",
    ),
    (  # Slack incoming webhooks: the path is the secret
        "",
        "hooks.slack.com/",
        r"(?P<keep>hooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9_/\-]{20,}+",
    ),
    ("_", "hf_", r"hf_[A-Za-z0-9]{30,}+"),  # Hugging Face
    (  # JWT: header and payload are base64url JSON objects ("eyJ" is '{"')
        "",
        "eyJ",
        rf"eyJ(?<!{_B64}eyJ){_B64}{{8,}}+\.eyJ{_B64}{{8,}}+\.{_B64}{{8,}}+",
    ),
    ("", "earer", r"(?P<keep>[Bb]earer[ \t]++)[A-Za-z0-9._~+/\-]{16,}+=*+"),  # bearer tokens
    (  # HTTP Basic credentials (checked to decode to "user:password")
        "",
        "asic ",
        r"(?P<keep>[Bb]asic[ ]++)(?P<basic>[A-Za-z0-9+/]{4,}+={0,2})",
    ),
    (  # PEM private keys; a block cut short (no END line) loses its base64 lines all the same
        "",
        "PRIVATE KEY",
        rf"-----BEGIN {_PEM_LABEL}(?:(?:[^\-\x1e\"]++|-(?!----))*+-----END {_PEM_LABEL}"
        r"|(?:[A-Za-z0-9+/=]{16,}+)?(?:(?:\r?\n|\\r\\n|\\n|[ \t])++"
        r"(?:[A-Za-z0-9+/=]{16,}+|(?:Proc-Type|DEK-Info|Comment|Version|Hash|Charset):[^\r\n\\\x1e]*+))*+)",
    ),
]

# ``password=...``, ``"api_key": "..."``, ``--token ...``: the value after a secret's name. Found
# by looking for the names in the lower-cased text, then matching at each occurrence.
_CREDENTIAL_NAMES = (
    r"pass(?:word|wd|phrase)|pwd|secret(?:[_\-]?(?:access[_\-]?)?key)?|api[_\-]?key|private[_\-]?key|token"
)
_CREDENTIAL_NAMES_FIRST = ("pass", "pwd", "secret", "api", "private", "token")
_KEYED = re.compile(
    rf"(?i:{_CREDENTIAL_NAMES})(?:\\*[\"']?[ \t]*+[:=][ \t]*+|(?P<flag>[ \t]++))"
    r"(?:(?P<q>\\*[\"'])(?P<qv>[^\"'\\\r\n\x1e]{1,512}+)(?P=q)|(?P<v>[^\s\"'`\\,;<>(){}\[\]]{1,512}+))"
)
# fmt: off
_NOT_A_VALUE = frozenset([
    "none", "null", "nil", "true", "false", "str", "string", "bytes", "int", "bool", "undefined", "optional",
    "secretstr", "required",
])
# fmt: on
_KEY_IS_SECRET = re.compile(rf"(?i:{_CREDENTIAL_NAMES})\Z")
_KEY_IS_SSN = re.compile(r"(?i)(?<![a-z])(?:ssn|social[_\- ]?security(?:[_\- ]?(?:number|no|num))?)\Z")

# ``scheme://user:password@host``: the password goes, the user and the host stay.
_URL_CREDENTIALS = re.compile(r"://(?P<user>[^\s:/?#@\"'<>\\\[\]]*+):(?P<pw>(?:[^\s/?#@\"'<>\\]*+@)++)")

# --- E-mail ------------------------------------------------------------------------------------
# Found from each "@": the local part is read backwards (at most 64 characters), the domain
# forwards. Unicode letters and digits count (IDN, EAI); a punycode TLD (xn--...) too.
_LOCAL_EXTRA = frozenset("._%+-")  # and letters and digits, any script
_AT = re.compile(r"@(?<=[\w.%+\-]@)")  # an "@" right after what may end a local part
_DOMAIN = re.compile(r"@(?P<d>(?:[^\W_]++(?:-++[^\W_]++)*+\.){1,10})(?P<tld>xn--[A-Za-z0-9\-]{2,59}|[^\W\d_]{2,63})")

# --- IP addresses --------------------------------------------------------------------------
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
# IPv6, with an embedded IPv4 tried first (``::ffff:192.0.2.128`` is one address, not four parts)
_IPV6 = rf"(?<![\w:.])(?:[0-9A-Fa-f]{{0,4}}:){{2,7}}(?:{_IPV4}|[0-9A-Fa-f]{{0,4}})(?![\w:]|\.\d)"
# A dotted quad right after one of these words (or "==", "~=", "pkg-") is a version, not an
# address ("Python 3.11.7.1", "version: 1.2.3.4", "numpy==1.26.4.1").
# fmt: off
_VERSION_WORDS = frozenset([
    "v", "ver", "version", "release", "rel", "build", "rev", "revision", "python", "node", "nodejs", "java", "jdk",
    "golang", "ruby", "php", "perl", "rust", "rustc", "gcc", "clang", "llvm", "kernel", "linux", "firmware",
    "chrome", "chromium", "firefox", "safari", "windows", "macos", "ios", "android", "ubuntu", "debian", "openssl",
    "postgres", "postgresql", "mysql", "redis", "nginx", "django", "flask", "torch", "pytorch", "tensorflow",
    "numpy", "pandas", "pip", "npm", "sdk", "cuda",
])
# fmt: on

# --- IBAN ----------------------------------------------------------------------------------
# Two letters and two check digits, then the BBAN; the country fixes the length, so a word after
# it ("BIC: ...") is not part of it. Matched from the first check digit (a run of the number pass).
_IBAN_START = r"(?<=(?<![A-Za-z0-9])[A-Za-z]{2}\d)"  # after the first digit: two letters before it
# Countries whose BBAN is only digits (SWIFT IBAN registry).
# fmt: off
_IBAN_NUMERIC = frozenset([
    "AE", "AT", "BA", "BE", "CZ", "DE", "DK", "EE", "ES", "FI", "FO", "GL", "HR",
    "HU", "IL", "IS", "LT", "ME", "NO", "PL", "PT", "RS", "SE", "SI", "SK", "TN", "XK",
])
# fmt: on
_IBAN_LENGTHS = {
    **dict.fromkeys(["NO"], 15),
    **dict.fromkeys(["BE"], 16),
    **dict.fromkeys(["DK", "FI", "FK", "FO", "GL", "NL", "SD"], 18),
    **dict.fromkeys(["MK", "SI"], 19),
    **dict.fromkeys(["AT", "BA", "EE", "KZ", "LT", "LU", "MN", "XK"], 20),
    **dict.fromkeys(["CH", "HR", "LI", "LV"], 21),
    **dict.fromkeys(["BG", "BH", "CR", "DE", "GB", "GE", "IE", "ME", "RS", "VA"], 22),
    **dict.fromkeys(["AE", "GI", "IL", "IQ", "OM", "SO", "TL"], 23),
    **dict.fromkeys(["AD", "CZ", "ES", "MD", "PK", "RO", "SA", "SE", "SK", "TN", "VG"], 24),
    **dict.fromkeys(["AO", "CV", "LY", "MZ", "PT", "ST"], 25),
    **dict.fromkeys(["DZ", "IR", "IS", "TR"], 26),
    **dict.fromkeys(["BI", "CM", "DJ", "FR", "GR", "IT", "MC", "MG", "MR", "SM"], 27),
    **dict.fromkeys(
        ["AL", "AZ", "BF", "BJ", "BY", "CI", "CY", "DO", "GT", "HN", "HU", "LB", "ML", "NI", "PL", "SN", "SV"], 28
    ),
    **dict.fromkeys(["BR", "EG", "PS", "QA", "UA"], 29),
    **dict.fromkeys(["JO", "KW", "MU", "YE"], 30),
    **dict.fromkeys(["MT", "SC"], 31),
    **dict.fromkeys(["LC"], 32),
    **dict.fromkeys(["RU"], 33),
}

# --- Numbers -------------------------------------------------------------------------------
# Found in two steps: one cheap pass for runs of digits and separators (at least 6 characters, or
# the check digits of an IBAN), then the specific patterns inside each run only. Order matters:
# the first alternative wins.
_CANDIDATE = rf"\d(?:{_IBAN_START}(?=\d)|(?=[\d ()+.\-/]{{5}}))(?:[ ()+.\-/]*+\d)*+"
_SSN_AREA = r"(?!000|666|9\d\d)\d{3}"
_NUMBERS: list[tuple[str, str]] = [
    ("US_SSN", rf"(?<![\d-]){_SSN_AREA}(?P<sep>[- ])(?!00)\d{{2}}(?P=sep)(?!0000)\d{{4}}(?![\d-])"),
    ("US_SSN_LABELLED", rf"(?<![\d.\-]){_SSN_AREA}(?!00)\d{{2}}(?!0000)\d{{4}}(?![\d\-]|\.\d)"),
    ("CREDIT_CARD", r"(?<![\d-])[2-6](?:[ -]?\d){12,18}(?![\d-])"),  # Visa, MC, Amex, Discover, JCB, UnionPay...
    (
        "PHONE",
        r"(?<![\w+])(?<!\d\.)(?:"
        r"(?:\+\d{1,3}|\(\+\d{1,3}\)|00[1-9]\d{0,2})[ .\-]?(?:\(\d{1,4}\)|\d{1,4})(?:[ .\-]?\d{2,4}){2,4}"  # +44 20...
        r"|\(\d{3}\)[ .\-]?\d{3}[ .\-]\d{4}"  # (212) 555-1234
        r"|(?:1(?P<nsep>[ .\-]))?\d{3}(?P<psep>[ .\-])\d{3}(?P=psep)\d{4}"  # 415-555-0199, 1-800-555-0199
        r"|0[1-9](?P<fsep>[ .\-])\d{2}(?:(?P=fsep)\d{2}){3}"  # 06 12 34 56 78
        r"|0[1-9]\d{1,3}[ \-]\d{3,4}[ \-]?\d{3,4}"  # 020 7946 0958
        r"|\+\d{10,14}"
        r")(?!\w|\.\d)",
    ),
    ("IP_ADDRESS", rf"(?<![\w.]){_IPV4}(?!\w|\.\d)"),
]
# A 9-digit number is an SSN only right after a label ("SSN 123456789", "social security no: ...").
_SSN_LABEL = re.compile(
    r"(?i:(?<![a-z])(?:ssn|ss\#|soc(?:ial|\.)?[ \t]*sec(?:urity|\.)?(?:[ \t]*(?:number|num|no\.?|\#))?))"
    r"[\"']?[ \t]*+[:=\#\-]?[ \t]*+[\"']?(?i:is[ \t]+)?\Z"
)

ENTITY_TYPES = ("SECRET", "EMAIL", "IBAN", "CREDIT_CARD", "US_SSN", "PHONE", "IP_ADDRESS")
_PLACEHOLDERS = frozenset(f"[{kind}]" for kind in ENTITY_TYPES)


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


_BASE36 = {ord(c): str(int(c, 36)) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


def _mod97_ok(code: str) -> bool:
    moved = (code[4:] + code[:4]).upper().translate(_BASE36)
    return moved.isdigit() and moved.isascii() and int(moved) % 97 == 1


def iban_ok(text: str) -> bool:
    s = text.replace(" ", "").upper()
    if not 15 <= len(s) <= 34 or _IBAN_LENGTHS.get(s[:2], len(s)) != len(s):
        return False
    return _mod97_ok(s)


def _is_basic_credentials(token: str) -> bool:
    """HTTP Basic credentials: base64 of "user:password"."""
    try:
        decoded = base64.b64decode(token, validate=True)
    except ValueError:
        return False
    return b":" in decoded and decoded.isascii() and decoded.decode().isprintable()


def _ip_ok(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _ipv6_ok(text: str) -> bool:
    # "abc::def" is an address to ipaddress, and C++ to everyone else: a digit is required.
    return any(c.isdigit() for c in text) and _ip_ok(text)


def _phone_ok(text: str) -> bool:
    digits = sum(c.isdigit() for c in text) - (2 if text.startswith("00") else 0)
    return 7 <= digits <= 15


def _ssn_ok(digits: str) -> bool:
    return not (digits[:3] in ("000", "666") or digits[0] == "9" or digits[3:5] == "00" or digits[5:] == "0000")


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


def _secret_names(text: str) -> Iterator[int]:
    """Positions where a secret's name (``password``, ``api_key``, ``token``...) may start."""
    low = text.lower()
    if len(low) != len(text):  # a few characters lower-case to two ("İ"): search case-insensitively
        for m in re.finditer(rf"(?i:{_CREDENTIAL_NAMES})", text):
            yield m.start()
        return
    for first in _CREDENTIAL_NAMES_FIRST:
        i = low.find(first)
        while i != -1:
            yield i
            i = low.find(first, i + 1)


class RegexRedactor:
    """The default redactor: cheap gates first, then compiled patterns with validators."""

    name = "regex"

    def __init__(self) -> None:
        # The gates and patterns that can apply, by whether the text holds an "_" and a "-".
        secrets = [(needs, gate, re.compile(p)) for needs, gate, p in _SECRETS]
        self._secrets = {
            (u, d): [(gate, p) for needs, gate, p in secrets if (needs != "_" or u) and (needs != "-" or d)]
            for u in (False, True)
            for d in (False, True)
        }
        # Numbers are ASCII digits (and \d over Unicode costs twice as much as [0-9] to scan for).
        self._ipv6 = re.compile(_IPV6, re.ASCII)
        self._candidate = re.compile(_CANDIDATE, re.ASCII)
        self._numbers = re.compile("|".join(f"(?P<g{i}>{p})" for i, (_, p) in enumerate(_NUMBERS)), re.ASCII)
        self._number_types = {f"g{i}": kind for i, (kind, _) in enumerate(_NUMBERS)}

    def redact(self, text: str) -> Redaction:
        """The passes, in order: secrets, e-mails, IPv6, then numbers (IBANs, SSNs, cards, phones,
        IPv4). Each takes the text and the counts, and returns the new text."""
        if len(text) < 6:  # the shortest thing we look for is an e-mail like a@b.io
            return Redaction(text, {})
        counts: dict[str, int] = {}  # a plain dict: Counter() costs more than a whole regex pass here
        text = self._secrets_in(text, counts)
        if "@" in text:
            text = self._emails(text, counts)
        if _may_hold_ipv6(text):
            text = self._ipv6.sub(lambda m: self._count(counts, "IP_ADDRESS") if _ipv6_ok(m[0]) else m[0], text)
        text = self._numbers_in(text, counts)
        return Redaction(text, counts)

    @staticmethod
    def _count(counts: dict[str, int], kind: str, m: re.Match[str] | None = None) -> str:
        if m is not None and m.lastgroup == "basic" and not _is_basic_credentials(m["basic"]):
            return m[0]  # "basic understanding": not base64 of user:password
        counts[kind] = counts.get(kind, 0) + 1
        keep = m.groupdict().get("keep") if m is not None else None
        return f"{keep}[{kind}]" if keep else f"[{kind}]"

    def _secrets_in(self, text: str, counts: dict[str, int]) -> str:
        """API keys and tokens, private keys, ``password=...`` and URL credentials."""
        for gate, pattern in self._secrets["_" in text, "-" in text]:
            if (gate in text) if isinstance(gate, str) else (gate.search(text) is not None):
                text = pattern.sub(lambda m: self._count(counts, "SECRET", m), text)
        if "=" in text or ":" in text or "--" in text:
            text = self._keyed(text, counts)
        if "://" in text and "@" in text:
            text = _URL_CREDENTIALS.sub(lambda m: self._url_credentials(m, counts), text)
        return text

    def _keyed(self, text: str, counts: dict[str, int]) -> str:
        found: list[tuple[int, int, str]] = []
        for i in sorted(set(_secret_names(text))):
            if found and i < found[-1][1]:
                continue  # inside the value just found
            m = _KEYED.match(text, i)
            if m is None or not _name_stands(text, i, m):
                continue
            if m["v"] is not None:
                value = m["v"]
                if "&" in value and _in_query(text, i):  # ?user=x&password=y&next=...
                    value = value.split("&", 1)[0]
                value = value.rstrip(".!?:")
                end = m.start("v") + len(value)
                if not value or value.lower() in _NOT_A_VALUE or value[0] in "/$%*" or text.startswith(("(", "["), end):
                    found.append((m.start(), m.end(), ""))  # not a secret, and not worth scanning again
                    continue
                found.append((m.start("v"), end, "[SECRET]"))
            elif m["qv"] not in _PLACEHOLDERS:
                found.append((m.start("qv"), m.end("qv"), "[SECRET]"))
        out: list[str] = []
        pos = 0
        for start, end, new in found:
            if new:
                counts["SECRET"] = counts.get("SECRET", 0) + 1
                out.append(text[pos:start])
                out.append(new)
                pos = end
        if not out:
            return text
        out.append(text[pos:])
        return "".join(out)

    @staticmethod
    def _url_credentials(m: re.Match[str], counts: dict[str, int]) -> str:
        if m["pw"] == "[SECRET]@":
            return m[0]
        counts["SECRET"] = counts.get("SECRET", 0) + 1
        return f"://{m['user']}:[SECRET]@"

    def _emails(self, text: str, counts: dict[str, int]) -> str:
        out: list[str] = []
        pos = 0
        hit = _AT.search(text)
        while hit is not None:
            at = start = hit.start()
            floor = max(pos, at - 64)
            while start > floor and (text[start - 1].isalnum() or text[start - 1] in _LOCAL_EXTRA):
                start -= 1
            too_long = start == floor and start > pos and (text[start - 1].isalnum() or text[start - 1] in _LOCAL_EXTRA)
            while start < at and text[start] == ".":  # a local part does not start with a dot
                start += 1
            m = _DOMAIN.match(text, at) if start < at and not too_long else None
            if m is None:
                hit = _AT.search(text, at + 1)
                continue
            counts["EMAIL"] = counts.get("EMAIL", 0) + 1
            out.append(text[pos:start])
            out.append("[EMAIL]")
            pos = m.end()
            hit = _AT.search(text, pos)
        if not out:
            return text
        out.append(text[pos:])
        return "".join(out)

    def may_find(self, text: str) -> bool:
        """False only if ``redact`` would change nothing in ``text`` (or in the strings that make up
        its JSON serialisation, or JSON held in those strings; JSON escapes only quotes,
        backslashes and control characters, none of which any pattern needs, and ``\\uXXXX``,
        which makes this say yes). One cheap pass; ingestion skips redaction when it says no.
        ``redact_event`` also acts on object keys named like secrets, which this sees as
        ``password":``."""
        if "@" in text or _may_hold_ipv6(text) or "\\\\u" in text:
            return True
        for gate, _ in self._secrets["_" in text, "-" in text]:
            if (gate in text) if isinstance(gate, str) else (gate.search(text) is not None):
                return True
        if "=" in text or ":" in text or "--" in text:
            for i in _secret_names(text):
                m = _KEYED_NAME.match(text, i)
                if m is not None and _name_stands(text, i, m):
                    return True
        return self._candidate.search(text) is not None

    def _numbers_in(self, text: str, counts: dict[str, int]) -> str:
        """Find runs of digits and separators in one cheap pass (widened to a leading '+' or '('),
        then run the precise number patterns on each run only, seeing the text around it. A run
        that starts after two letters is tried as an IBAN first."""
        out: list[str] = []
        pos = 0
        size = len(text)
        for run in self._candidate.finditer(text):
            start, end = run.span()
            if start < pos:
                continue  # inside the IBAN just found
            if start >= 2 and text[start - 2 : start].isalpha() and (start == 2 or not text[start - 3].isalnum()):
                cut = _iban_end(text, start - 2)
                if cut > 0:
                    counts["IBAN"] = counts.get("IBAN", 0) + 1
                    out.append(text[pos : start - 2])
                    out.append("[IBAN]")
                    pos = cut
                    if cut >= end:
                        continue
                    start = cut
            if start and text[start - 1] in "+(":
                start -= 2 if text[start - 2 : start] == "(+" else 1
            if end - start < 7:
                continue
            stop = min(size, end + 2)
            i = max(start, pos)
            while i < end:
                m = self._numbers.search(text, i, stop)
                if m is None or m.start() >= end:
                    break
                kind = self._number_types[m.lastgroup or ""]
                cut = _number_end(kind, text, m)
                if cut < 0:
                    i = m.end()
                    continue
                kind = "US_SSN" if kind == "US_SSN_LABELLED" else kind
                counts[kind] = counts.get(kind, 0) + 1
                out.append(text[pos : m.start()])
                out.append(f"[{kind}]")
                pos = i = cut
        if not out:
            return text
        out.append(text[pos:])
        return "".join(out)


_KEYED_NAME = re.compile(rf"(?i:{_CREDENTIAL_NAMES})(?:\\*[\"']?[ \t]*+[:=]|(?P<flag>[ \t]))")


def _in_query(text: str, i: int) -> bool:
    """True if the name at ``i`` is a URL query parameter (``?`` or ``&`` before its identifier)."""
    j, floor = i, max(0, i - 256)
    while j > floor and (text[j - 1].isalnum() or text[j - 1] in "_.-"):
        j -= 1
    return j > 0 and text[j - 1] in "?&"


def _name_stands(text: str, i: int, m: re.Match[str]) -> bool:
    """A secret's name at ``i`` is one: ``--password x`` is a flag only after "--", and ``pwd``
    is not the end of a word (``OLDPWD=``) or a shell variable (``$PWD``)."""
    if m["flag"] is not None and text[i - 2 : i] != "--":
        return False
    return not (text[i : i + 3].lower() == "pwd" and i and (text[i - 1].isalpha() or text[i - 1] == "$"))


def _is_version(text: str, start: int) -> bool:
    """True if the dotted quad at ``start`` follows a version word or operator (see _VERSION_WORDS)."""
    before = text[max(0, start - 2) : start]
    if before in ("==", "~=", ">=", "<=", "!=") or before[-1:] in ("^", "~"):
        return True
    if before[-1:] == "-" and before[:1].isalnum():
        return True
    floor = max(0, start - 24)
    j = start
    while j > floor and text[j - 1] in " \t:":
        j -= 1
    if j > floor and j < start and text[j - 1] == ".":
        j -= 1
    k = j
    while k > floor and text[k - 1].isalpha():
        k -= 1
    return text[k:j].lower() in _VERSION_WORDS and not (k and text[k - 1].isalpha())


def _iban_end(text: str, start: int) -> int:
    """Where the IBAN starting at ``start`` ends (its country's length), or -1 if it is none.
    Letters and digits, grouped by single spaces or dashes or not, all of one case (else an id)."""
    country = text[start : start + 2].upper()
    length = _IBAN_LENGTHS.get(country)
    if length is None or not text[start + 2 : start + 4].isdigit():
        return -1
    code = text[start : start + length + length // 4 + 1].replace(" ", "").replace("-", "")[:length]
    if len(code) < length or not code.isascii() or not code.isalnum() or not (code.isupper() or code.islower()):
        return -1
    if country in _IBAN_NUMERIC:  # the common case, and a cheap no for anything else
        moved = f"{code[4:]}{ord(country[0]) - 55}{ord(country[1]) - 55}{code[2:4]}"
        if not code[4:].isdigit() or int(moved) % 97 != 1:
            return -1
    elif not _mod97_ok(code):
        return -1
    end, seen = start, 0
    while seen < length:
        if text[end] not in " -":
            seen += 1
        elif text[end - 1] in " -":
            return -1
        end += 1
    return -1 if end < len(text) and text[end].isalnum() else end


def _number_end(kind: str, text: str, m: re.Match[str]) -> int:
    """The end of what to redact of match ``m`` of ``kind``, or -1 if it is not one after all."""
    found = m[0]
    start = m.start()
    if kind == "CREDIT_CARD":
        if luhn_ok(found.replace(" ", "").replace("-", "")):
            return m.end()
        # The longest prefix ending at a group boundary that passes Luhn ("4111 1111 1111 1111 222")
        digits = 0
        cuts: list[tuple[int, int]] = []
        for j, ch in enumerate(found):
            if ch.isdigit():
                digits += 1
                if digits >= 13 and (j + 1 == len(found) or found[j + 1] in " -"):
                    cuts.append((j + 1, digits))
        for cut, _ in reversed(cuts):
            if luhn_ok("".join(c for c in found[:cut] if c.isdigit())):
                return start + cut
        return -1
    if kind == "PHONE":
        return m.end() if _phone_ok(found) else -1
    if kind == "IP_ADDRESS":
        return -1 if _is_version(text, start) else m.end()
    if kind == "US_SSN_LABELLED":
        return m.end() if _SSN_LABEL.search(text, max(0, start - 40), start) and _ssn_ok(found) else -1
    return m.end()


class PresidioRedactor:
    """Presidio (offline, no NER model) after the regex redactor: never finds less than it."""

    name = "presidio"
    _ENTITIES = {
        "EMAIL_ADDRESS": "EMAIL",
        "PHONE_NUMBER": "PHONE",
        "US_SSN": "US_SSN",
        "CREDIT_CARD": "CREDIT_CARD",
        "IP_ADDRESS": "IP_ADDRESS",
        "IBAN_CODE": "IBAN",
    }
    # Presidio's own patterns are not all linear: it analyses windows of bounded size (with an
    # overlap longer than any entity it finds), so a long text costs windows x a bounded price.
    WINDOW = 4096
    OVERLAP = 256

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
        self._regex = RegexRedactor()

    def may_find(self, text: str) -> bool:
        return True  # no cheap way to know what Presidio would find

    def redact(self, text: str) -> Redaction:
        first = self._regex.redact(text)
        text, counts = first.text, dict(first.counts)
        spans: set[tuple[int, int, float, str]] = set()
        step = self.WINDOW
        for base in range(0, max(len(text) - self.OVERLAP, 1), step):
            window = text[base : base + step + self.OVERLAP]
            for r in self._analyzer.analyze(
                text=window, language="en", entities=list(self._ENTITIES), score_threshold=self._threshold
            ):
                spans.add((base + r.start, base + r.end, r.score, r.entity_type))
        # Keep the higher score / longer span of overlapping findings.
        chosen: list[tuple[int, int, float, str]] = []
        for s in sorted(spans, key=lambda s: (-s[2], s[0] - s[1])):
            if all(s[1] <= c[0] or s[0] >= c[1] for c in chosen) and text[s[0] : s[1]] not in _PLACEHOLDERS:
                chosen.append(s)
        out: list[str] = []
        pos = 0
        for start, end, _, entity in sorted(chosen):
            kind = self._ENTITIES[entity]
            counts[kind] = counts.get(kind, 0) + 1
            out.append(text[pos:start])
            out.append(f"[{kind}]")
            pos = end
        out.append(text[pos:])
        return Redaction("".join(out), counts)


def make_redactor(name: str) -> Redactor:
    if name == "presidio":
        return PresidioRedactor()
    return RegexRedactor()


# --- Events ----------------------------------------------------------------------------------

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
_JSON_DEPTH = 4  # JSON in a string in JSON in a string...: decoded this many levels deep
_CARD_INT_MIN = 10**12  # an integer with 13 digits or more may be a card number


_SEP = "\x1e"  # ASCII record separator: no pattern matches across it (checked after each pass)


class _JsonRoot:
    """A string that held a JSON object or array, decoded so its own strings can be redacted;
    written back (re-encoded) if any of them changed."""

    __slots__ = ("changed", "container", "key", "parent", "style", "value")

    def __init__(self, container: Any, key: Any, value: Any, original: str, parent: int) -> None:
        self.container, self.key, self.value, self.parent = container, key, value, parent
        self.changed = False
        spaced = '": ' in original or '", ' in original
        self.style: dict[str, Any] = {
            "ensure_ascii": "\\u" in original,
            "separators": (", ", ": ") if spaced else (",", ":"),
        }
        if original.lstrip()[1:2] == "\n":
            line = original.lstrip()[2:].split("\n", 1)[0]
            self.style["indent"] = len(line) - len(line.lstrip(" ")) or 2
            self.style["separators"] = (",", ": ")

    def encode(self) -> str:
        return json.dumps(self.value, allow_nan=False, **self.style)


class _JsonText:
    """A string holding JSON nested too deeply to decode and walk: its string literals are decoded
    one by one and redacted, the long integers between them checked as card numbers, and the text
    spliced back together, so it stays valid JSON whatever its depth."""

    __slots__ = ("changed", "container", "key", "literals", "parent", "segments", "value")

    def __init__(self, container: Any, key: Any, original: str, parent: int) -> None:
        self.container, self.key, self.parent = container, key, parent
        self.changed = False
        self.segments: list[str] = []  # the text around the literals, len(literals) + 1 of them
        self.literals: list[str] = []  # each literal as written
        self.value: list[str | None] = []  # each literal decoded (None if it cannot be): the slots
        pos = 0
        for m in _JSON_LITERAL.finditer(original):
            self.segments.append(original[pos : m.start()])
            self.literals.append(m[0])
            try:
                self.value.append(json.loads(m[0]))
            except ValueError:
                self.value.append(None)
            pos = m.end()
        self.segments.append(original[pos:])

    def encode(self) -> str:
        out = [self.segments[0]]
        for literal, value, segment in zip(self.literals, self.value, self.segments[1:], strict=True):
            changed = value is not None and json.loads(literal) != value
            out.append(json.dumps(value, ensure_ascii="\\u" in literal) if changed else literal)
            out.append(segment)
        return "".join(out)


_JSON_LITERAL = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_JSON_LONG_INT = re.compile(r"(?<![\w.+\-])-?[0-9]{13,19}(?![\w.])", re.ASCII)
_TOO_DEEP = object()
_JSON_START = frozenset("{[ \t\r\n")


def _decode_json(text: str) -> Any:
    """The object or array ``text`` holds, or None if it holds something else (or nothing valid)."""
    head = text[0]
    if head not in "{[" and not (head.isspace() and text.lstrip()[:1] in ("{", "[")):
        return None
    if text.rstrip()[-1:] not in ("}", "]"):
        return None
    try:
        value = json.loads(text, parse_constant=_refuse, parse_float=_finite)
    except ValueError:
        return None
    except RecursionError:
        return _TOO_DEEP
    return value if isinstance(value, dict | list) else None


def _refuse(name: str) -> Any:
    raise ValueError(name)  # NaN, Infinity: not JSON that re-encodes as it came


def _finite(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):  # 1e400
        raise ValueError(literal)
    return value


# Object keys repeat from event to event: those in which the redactor found nothing are kept here
# (per redactor), with what they say about their value (see _key_label). Keys with findings are not.
_CLEAN_KEYS: dict[str, dict[str, str | None]] = {}
_PLAIN_KEYS: dict[str, set[str]] = {}  # those of them that say nothing of their value either
_CLEAN_KEYS_MAX = 8192
_UNSEEN = object()


def _key_label(key: str) -> str | None:
    """What a key says about its value: "SECRET" (``password``, ``api_key``...), "US_SSN", or None."""
    if _KEY_IS_SECRET.search(key) and not (key[-3:].lower() == "pwd" and key[-4:-3].isalpha()):
        return "SECRET"
    if _KEY_IS_SSN.search(key):
        return "US_SSN"
    return None


def redact_event(event: dict[str, Any], redactor: Redactor) -> dict[str, int]:
    """Redact an event's content in place; returns the counts per type.

    Every string value and every object key of the content is scanned; a string that holds a
    JSON object or array (tool-call arguments) is decoded, redacted inside and re-encoded, so it
    stays valid JSON; an integer of 13 digits or more is checked as a card number; the value of
    a key named like a secret (``password``, ``api_key``, ``token``...) is replaced whole.
    The strings are joined with a separator and redacted in one pass (a few large regex scans
    cost far less than many small ones); if a match ever swallowed a separator, each string is
    redacted on its own instead.
    """
    walk = _Walk(redactor)
    for key, value in event.items():
        if key not in STRUCTURAL_FIELDS and value is not None:
            walk.collect(event, key, value, _SPEC.get(key, _EMPTY), -1, 0)
    return walk.finish()


def _add(totals: dict[str, int], counts: dict[str, int]) -> None:
    for kind, n in counts.items():
        totals[kind] = totals.get(kind, 0) + n


class _Walk:
    """One event's content: the strings to redact in one pass, the keys to rename, the JSON
    strings to re-encode. Keys are cached per redactor (see _CLEAN_KEYS)."""

    __slots__ = ("clean_keys", "plain_keys", "redactor", "renames", "roots", "slots", "totals")

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        clean_keys = _CLEAN_KEYS.get(redactor.name)
        if clean_keys is None:
            clean_keys = _CLEAN_KEYS[redactor.name] = {}
            _PLAIN_KEYS[redactor.name] = set()
        self.clean_keys = clean_keys
        self.plain_keys = _PLAIN_KEYS[redactor.name]
        self.slots: list[tuple[Any, Any, str, int]] = []  # (container, key, text, JSON root or -1)
        self.renames: list[tuple[dict[str, Any], str, str, int]] = []  # (object, old key, new key, root)
        self.roots: list[_JsonRoot | _JsonText] = []
        self.totals: dict[str, int] = {}

    def collect(self, container: Any, key: Any, value: Any, spec: _Spec, root: int, depth: int) -> None:
        # Strings, the most common values, are queued without a call for each.
        slots = self.slots
        if isinstance(value, dict):
            keep = spec.get("keep", ())
            children = spec.get("children", _EMPTY)
            # The usual case: every key seen before, with nothing found in it or said by it.
            known = value.keys() <= self.plain_keys
            for k, v in value.items():
                if k in keep:
                    continue
                if not known:
                    label: Any = self.clean_keys.get(k, _UNSEEN)
                    if label is not None:  # a key not seen yet, or one that names its value
                        if label is _UNSEEN:
                            label = self.scan_key(value, k, root)
                        if label is not None and _labelled(value, k, v, label, self.totals):
                            self.mark(root)
                            continue
                t = type(v)
                if t is str:
                    if len(v) >= 6:
                        if v[0] in _JSON_START or v[0] == "d":
                            self.string(value, k, v, root, depth)
                        else:
                            slots.append((value, k, v, root))
                elif t is dict or t is list or (t is int and not -_CARD_INT_MIN < v < _CARD_INT_MIN):
                    self.collect(value, k, v, children.get(k, _EMPTY), root, depth)
        elif isinstance(value, list):
            each = spec.get("each", _EMPTY)
            for i, v in enumerate(value):
                t = type(v)
                if t is str:
                    if len(v) >= 6:
                        if v[0] in _JSON_START or v[0] == "d":
                            self.string(value, i, v, root, depth)
                        else:
                            slots.append((value, i, v, root))
                elif t is dict or t is list or (t is int and not -_CARD_INT_MIN < v < _CARD_INT_MIN):
                    self.collect(value, i, v, each, root, depth)
        elif isinstance(value, str):
            if len(value) >= 6:
                self.string(container, key, value, root, depth)
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _CARD_INT_MIN:
            found = self.redactor.redact(str(value))
            if found.counts:
                _add(self.totals, found.counts)
                container[key] = found.text
                self.mark(root)

    def string(self, container: Any, key: Any, value: str, root: int, depth: int) -> None:
        """A string of 6 characters or more that may be an inline file or hold JSON."""
        if len(value) > _DATA_URL_MIN and value.startswith("data:"):
            return
        if value[0] in _JSON_START and depth < _JSON_DEPTH:
            decoded = _decode_json(value)
            if decoded is not None and decoded is not _TOO_DEEP:
                slots, renames, roots = self.slots, self.renames, self.roots
                saved = len(slots), len(renames), len(roots), dict(self.totals)
                roots.append(_JsonRoot(container, key, decoded, value, root))
                try:
                    self.collect(None, None, decoded, _EMPTY, len(roots) - 1, depth + 1)
                    return
                except RecursionError:  # valid, but nested too deeply to walk
                    del slots[saved[0] :], renames[saved[1] :], roots[saved[2] :]
                    self.totals = saved[3]
                    decoded = _TOO_DEEP
            if decoded is _TOO_DEEP:
                self.splice(container, key, value, root)
                return
        self.slots.append((container, key, value, root))

    def splice(self, container: Any, key: Any, value: str, root: int) -> None:
        """JSON too deep to decode or walk: its literals are redacted where they stand."""
        spliced = _JsonText(container, key, value, root)
        self.roots.append(spliced)
        index = len(self.roots) - 1
        for i, literal in enumerate(spliced.value):
            if isinstance(literal, str) and len(literal) >= 6:
                self.slots.append((spliced.value, i, literal, index))

        def card(m: re.Match[str]) -> str:
            found = self.redactor.redact(m[0])
            if not found.counts:
                return m[0]
            _add(self.totals, found.counts)
            self.mark(index)
            return json.dumps(found.text)

        for i, segment in enumerate(spliced.segments):
            if _JSON_LONG_INT.search(segment):
                spliced.segments[i] = _JSON_LONG_INT.sub(card, segment)

    def scan_key(self, obj: dict[str, Any], k: str, root: int) -> Any:
        """Scan a key not seen yet: rename it if it holds a finding; what it says of its value."""
        found = self.redactor.redact(k)
        if found.counts:
            _add(self.totals, found.counts)
            self.renames.append((obj, k, found.text, root))
            return _key_label(found.text)
        label = _key_label(k)
        if len(self.clean_keys) >= _CLEAN_KEYS_MAX:
            self.clean_keys.clear()
            self.plain_keys.clear()
        self.clean_keys[k] = label
        if label is None:
            self.plain_keys.add(k)
        return label

    def mark(self, root: int) -> None:
        roots = self.roots
        while root >= 0 and not roots[root].changed:
            roots[root].changed = True
            root = roots[root].parent

    def finish(self) -> dict[str, int]:
        slots, totals = self.slots, self.totals
        if slots:
            joined = _SEP.join(text for _, _, text, _ in slots)
            result = self.redactor.redact(joined)
            if result.counts:
                parts = result.text.split(_SEP)
                if len(parts) == len(slots):
                    _add(totals, result.counts)
                else:
                    parts = []
                    for _, _, text, _ in slots:
                        one = self.redactor.redact(text)
                        parts.append(one.text)
                        _add(totals, one.counts)
                for (container, key, text, root), new in zip(slots, parts, strict=True):
                    if new != text:
                        container[key] = new
                        self.mark(root)
        if not (self.renames or self.roots):
            return totals
        for _, _, _, root in self.renames:
            self.mark(root)
        # Keys are renamed and JSON re-encoded innermost first: a root's own objects, then the root.
        by_root: dict[int, dict[int, tuple[dict[str, Any], dict[str, str]]]] = {}
        for obj, old, new, root in self.renames:
            by_root.setdefault(root, {}).setdefault(id(obj), (obj, {}))[1][old] = new
        for index in range(len(self.roots) - 1, -2, -1):
            for obj, mapping in by_root.get(index, {}).values():
                _rename(obj, mapping)
            if index >= 0 and self.roots[index].changed:
                r = self.roots[index]
                r.container[r.key] = r.encode()
        return totals


def _labelled(obj: dict[str, Any], key: str, value: Any, label: str, totals: dict[str, int]) -> bool:
    """Replace the value of a key that names it (``{"password": "..."}``); True if done."""
    if label == "SECRET" and isinstance(value, str) and value and value not in _PLACEHOLDERS:
        if value[0] in _JSON_START and _decode_json(value) is not None:
            return False  # JSON in a string stays JSON: walked like any other
        obj[key] = "[SECRET]"
        totals["SECRET"] = totals.get("SECRET", 0) + 1
        return True
    if label == "US_SSN" and isinstance(value, str | int) and not isinstance(value, bool):
        digits = str(value)
        if len(digits) == 11 and digits[3] == digits[6] == "-":
            digits = digits[:3] + digits[4:6] + digits[7:]
        if len(digits) == 9 and digits.isdigit() and _ssn_ok(digits):
            obj[key] = "[US_SSN]"
            totals["US_SSN"] = totals.get("US_SSN", 0) + 1
            return True
    return False


def _rename(obj: dict[str, Any], mapping: dict[str, str]) -> None:
    """Rename keys in place, keeping their order; a name already taken gets " (2)", " (3)"..."""
    items = list(obj.items())
    obj.clear()
    last: dict[str, int] = {}  # the last number given to each name: n keys cost n, not n squared
    for k, v in items:
        new = name = mapping.get(k, k)
        if name in obj:
            n = last.get(new, 1)
            while name in obj:
                n += 1
                name = f"{new} ({n})"
            last[new] = n
        obj[name] = v
