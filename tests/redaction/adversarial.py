"""Inputs built to make a backtracking regex take quadratic time, one or more per redaction pattern,
and an ordinary text to compare them with. Used by tests/unit/pipeline/test_redact.py and
``python -m bench.redaction_bench --adversarial``.
"""

from __future__ import annotations

# name -> the unit repeated to fill the size (or a callable for inputs that are not repetitions).
ADVERSARIAL: dict[str, str] = {
    # JWT: "eyJ" repeated, dots, segments that never make three
    "jwt-prefix": "eyJ",
    "jwt-dot": "eyJ.",
    "jwt-segment": "eyJabcdefgh.",
    "jwt-two-segments": "eyJabcdefghijk.eyJabcdefghijk",
    # PEM: BEGIN lines with no END, bare BEGIN, dashes, a header then an endless body
    "pem-begin-lines": "-----BEGIN RSA PRIVATE KEY-----\n",
    "pem-begin": "-----BEGIN ",
    "pem-dashes": "-----",
    "pem-body": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n",
    "pem-escaped-lines": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG\\n",
    # Other secrets: their prefixes repeated, too short to match
    "sk": "sk-",
    "sk-short": "sk-abc ",
    "stripe": "sk_live_",
    "aws": "AKIA",
    "google": "AIza",
    "github": "ghp_",
    "gitlab": "glpat-",
    "slack": "xoxb-",
    "slack-app": "xapp-1-",
    "slack-hook": "hooks.slack.com/services/",
    "npm": "npm_",
    "pypi": "pypi-AgEIcHlwaS5vcmc",
    "huggingface": "hf_",
    "bearer": "Bearer ",
    "bearer-spaces": "Bearer                ",
    "basic": "Basic ",
    "basic-token": "Basic dXNlcjpw ",
    # password=..., --token ..., URL credentials
    "secret-name": "password",
    "secret-equals": "password=",
    "secret-colon": "password: ",
    "secret-quote": 'password="',
    "secret-flag": "--token ",
    "secret-query": "?password=a&",
    "scheme": "://",
    "scheme-user": "://a:",
    "userinfo": "://a:b@",
    "userinfo-ats": "://a:b@@",
    # E-mail: "@" repeated, local parts without domains, domains without TLDs
    "at": "@",
    "local-at": "a@",
    "local-at-dot": "a@a.",
    "dotted-local": "a.a.a.a@",
    "domain-dashes": "a@a-a-",
    "domain-labels": "a@bbbbbbbbbbbbbbbb.",
    # Numbers: long digit runs, separators, IBAN and SSN prefixes, version-like quads
    "digits": "1",
    "digits-spaces": "1 ",
    "digits-dashes": "1-",
    "digits-dots": "1.",
    "parens": "(1",
    "plus": "+1",
    "zeros": "00",
    "dotted-quads": "1.1.1.1.",
    "ssn-like": "123-45-",
    "card-groups": "4111 ",
    "iban-country": "DE89 ",
    "iban-lower": "de89 3704 ",
    "iban-letters": "aa11 ",
    "ssn-label": "SSN 123456789 ",
    "ssn-label-only": "SSN ",
    "version": "Python 3.11.7.1 ",
    "phone-pairs": "06 12 ",
    "phone-nanp": "1-800-",
    "phone-paren-plus": "(+44) ",
    "iban-dashes": "DE89-3704-",
    # IPv6: colons and hex groups
    "colons": ":",
    "hex-colon": "1:",
    "mapped": "::ffff:",
    "hex-groups": "ffff:ffff:",
    # Many findings at once (the cost of each replacement, not of the search)
    "many-emails": "a@b.io ",
    "many-phones": "415-555-0199 ",
}

PLAIN = (
    "Summarise the quarterly report for the board. Revenue grew 12% to 4.2 million while costs fell; "
    "the team shipped three releases and closed 140 support tickets. Reply to jane.doe@example.com or "
    "call 415-555-0199 before the 15th; the key sk-proj-abcdefghijklmnopqrstuvwxyz0123 must be rotated. "
    "Highlight risks, next steps, and anything that needs a decision: keep it under 200 words. "
)


def repeat(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def adversarial(name: str, size: int) -> str:
    return repeat(ADVERSARIAL[name], size)


def plain(size: int) -> str:
    """Ordinary text with a few findings of several types, so that every pass runs."""
    return repeat(PLAIN, size)
