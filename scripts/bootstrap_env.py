"""Write ``.env`` from ``.env.example`` once, generating the secrets it leaves empty.

Never overwrites a value that is already set in ``.env``; safe to run on every ``make up``/``make test``.
One exception: a derived value that an older ``.env.example`` pinned (``PRISM_INGEST_URL``,
``AWS_ENDPOINT_URL``, ``PRISM_CORS_ORIGINS`` at their old defaults) is commented out, so that it
follows the port variables again (``scripts/local_config.py``); any other value of them is kept.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATED: dict[str, Callable[[], str]] = {
    "PRISM_CREDS_KEY": lambda: base64.urlsafe_b64encode(os.urandom(32)).decode(),  # a Fernet key
    "PRISM_API_KEY": lambda: "prism_" + secrets.token_urlsafe(24),
    "REDIS_PASSWORD": lambda: secrets.token_urlsafe(24),
    "POSTGRES_PASSWORD": lambda: secrets.token_urlsafe(24),  # compose's database (URL-safe: it goes in a URL)
    "PRISM_ADMIN_PASSWORD": lambda: secrets.token_urlsafe(18),  # the first admin's
    # The chat's own ingestion key (prism.identity.tokens' format: prism_ik_<id12>_<secret43>)
    "PRISM_CHAT_API_KEY": lambda: (
        "prism_ik_"
        + "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(12))
        + "_"
        + secrets.token_urlsafe(32)
    ),
}
#: What ``.env.example`` pinned before the ports became the single source of these values.
OLD_DERIVED_PINS = {
    "PRISM_INGEST_URL": "http://127.0.0.1:8101",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
    "PRISM_CORS_ORIGINS": "http://localhost:3001,http://127.0.0.1:3001",
}
UNPIN_NOTE = "# make up: derived from the port variables now (scripts/local_config.py); uncomment to pin"


def parse(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and "=" in stripped:
            key, _, value = stripped.partition("=")
            out[key.strip()] = value.strip()
    return out


def unpin_derived(lines: list[str]) -> tuple[list[str], list[str]]:
    """``lines`` with the old default pins of derived values commented out, and their names."""
    out, unpinned = [], []
    for line in lines:
        key, sep, value = line.partition("=")
        name = key.strip()
        if sep and not line.lstrip().startswith("#") and OLD_DERIVED_PINS.get(name) == value.strip().strip("'\""):
            out += [UNPIN_NOTE, f"# {line.strip()}"]
            unpinned.append(name)
        else:
            out.append(line)
    return out, unpinned


def bootstrap(root: Path = ROOT, unpinned: list[str] | None = None) -> list[str]:
    """Write or complete ``root/.env``; the names of the secrets generated. The names of unpinned
    derived values are appended to ``unpinned`` when given."""
    example = root / ".env.example"
    target = root / ".env"
    template = example.read_text() if example.exists() else "".join(f"{k}=\n" for k in GENERATED)
    current = parse(target.read_text()) if target.exists() else {}
    lines = target.read_text().splitlines() if target.exists() else template.splitlines()
    known = set(current) if target.exists() else set()
    # Add variables the example gained since .env was written.
    for line in template.splitlines():
        key = line.split("=", 1)[0].strip()
        if "=" in line and not line.lstrip().startswith("#") and key not in known and target.exists():
            lines.append(line)
    lines, names = unpin_derived(lines)
    if unpinned is not None:
        unpinned += names
    made = []
    out = []
    for line in lines:
        key, sep, value = line.partition("=")
        name = key.strip()
        if sep and not line.lstrip().startswith("#") and name in GENERATED and not value.strip():
            line = f"{name}={GENERATED[name]()}"
            made.append(name)
        out.append(line)
    for name, make in GENERATED.items():
        if not any(line.partition("=")[0].strip() == name for line in out):
            out.append(f"{name}={make()}")
            made.append(name)
    target.write_text("\n".join(out) + "\n")
    target.chmod(0o600)
    return made


if __name__ == "__main__":
    freed: list[str] = []
    generated = bootstrap(unpinned=freed)
    print(f".env ready{' (generated ' + ', '.join(generated) + ')' if generated else ''}")
    if freed:
        print(f".env: {', '.join(freed)} commented out: they follow the port variables now")
