"""``python -m chat.rotate_creds``: re-encrypt every stored provider key under the newest key.

Rotating ``PRISM_CREDS_KEY``: put the new key first (``PRISM_CREDS_KEY=new,old``) and restart; keys are
re-encrypted when next read, or all at once with this command; then drop the old key
(``PRISM_CREDS_KEY=new``). With ``PRISM_CREDS_KEY_SECRET_ARN`` no restart is needed: running
instances use the secret's keys within 5 minutes (prism.secrets' cache).
"""

from __future__ import annotations

import asyncio

from prism.bootstrap import build_chat_store
from prism.credentials import CredentialsKeyMissingError, build_cipher

from chat.config import get_chat_settings
from chat.providers import Providers


def main() -> None:
    settings = get_chat_settings()
    cipher = build_cipher(settings)
    if cipher is None:
        raise CredentialsKeyMissingError("PRISM_CREDS_KEY is not set")
    store = build_chat_store(settings, max_size=1)
    try:
        changed = asyncio.run(Providers(store, cipher, demo_enabled=False, demo_base_url=None).rotate_all())
    finally:
        store.close()
    print(f"{changed} provider key(s) re-encrypted under the first PRISM_CREDS_KEY")


if __name__ == "__main__":
    main()
