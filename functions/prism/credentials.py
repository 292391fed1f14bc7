"""Provider API keys encrypted at rest with Fernet under ``PRISM_CREDS_KEY``.

``PRISM_CREDS_KEY`` holds one or more Fernet keys, comma-separated, newest first. The first key
encrypts; every key decrypts, so a new key can be put in front of the old one without losing the
stored credentials. :meth:`CredentialCipher.needs_rotation` tells a store which tokens were made
under an older key, and :meth:`CredentialCipher.rotate` re-encrypts them under the first key.

A plaintext key never leaves this process in any form but its last four characters
(:func:`last4`), and nothing here logs.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from prism.errors import ConfigError, PrismError


class CredentialsKeyMissingError(ConfigError):
    """Storing a provider key needs ``PRISM_CREDS_KEY``."""

    code = "creds_key_missing"
    status = 503


class CredentialDecryptError(PrismError):
    """A stored key was encrypted under a key that is no longer in ``PRISM_CREDS_KEY``."""

    code = "credential_undecryptable"
    status = 503  # the provider is unusable until its key is re-entered or the old key restored


def parse_keys(raw: str) -> list[str]:
    return [k.strip() for k in raw.split(",") if k.strip()]


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def last4(secret: str) -> str:
    """The only part of a key that may be shown: its last four characters (none for a key too short
    for four characters to be a small part of it)."""
    return secret[-4:] if len(secret) >= 8 else ""


class CredentialCipher:
    """Encrypts and decrypts provider keys; rotation-aware."""

    def __init__(self, keys: str | list[str]) -> None:
        key_list = parse_keys(keys) if isinstance(keys, str) else [k for k in keys if k]
        if not key_list:
            raise CredentialsKeyMissingError(
                "PRISM_CREDS_KEY is not set: provider keys cannot be stored. Generate one with "
                '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`'
            )
        fernets: list[Fernet] = []
        for index, key in enumerate(key_list):
            try:
                fernets.append(Fernet(key.encode("ascii")))
            except (ValueError, UnicodeEncodeError) as exc:
                raise ConfigError(
                    f"PRISM_CREDS_KEY: key #{index + 1} is not a valid Fernet key (32 url-safe base64-encoded bytes)"
                ) from exc
        self._primary = fernets[0]
        self._multi = MultiFernet(fernets)

    @classmethod
    def from_setting(cls, raw: str) -> CredentialCipher | None:
        """``None`` when no key is configured (the app still serves the demo model)."""
        return cls(raw) if parse_keys(raw) else None

    def encrypt(self, plaintext: str) -> str:
        return self._multi.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._multi.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken as exc:
            raise CredentialDecryptError(
                "a stored provider key cannot be decrypted with PRISM_CREDS_KEY; "
                "was a key removed before rotation? Re-enter the provider key in settings"
            ) from exc

    def needs_rotation(self, token: str) -> bool:
        """True when ``token`` was not made under the primary (first) key."""
        try:
            self._primary.decrypt(token.encode("ascii"))
        except InvalidToken:
            return True
        return False

    def rotate(self, token: str) -> str:
        """Re-encrypt ``token`` under the primary key."""
        try:
            return self._multi.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken as exc:
            raise CredentialDecryptError("a stored provider key cannot be decrypted for rotation") from exc
