"""Write ``.env`` from ``.env.example`` once, generating the secrets it leaves empty.

Never overwrites a value that is already set in ``.env``; safe to run on every ``make up``/``make test``.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATED = {
    "PRISM_CREDS_KEY": lambda: base64.urlsafe_b64encode(os.urandom(32)).decode(),  # a Fernet key
    "PRISM_API_KEY": lambda: "prism_" + secrets.token_urlsafe(24),
    "REDIS_PASSWORD": lambda: secrets.token_urlsafe(24),
}


def parse(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and "=" in stripped:
            key, _, value = stripped.partition("=")
            out[key.strip()] = value.strip()
    return out


def bootstrap(root: Path = ROOT) -> list[str]:
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
    generated = bootstrap()
    print(f".env ready{' (generated ' + ', '.join(generated) + ')' if generated else ''}")
