"""Provider API keys encrypted at rest with Fernet under ``PRISM_CREDS_KEY``.

``PRISM_CREDS_KEY`` holds one or more Fernet keys, comma-separated, newest first. The first key
encrypts; every key decrypts, so a new key can be put in front of the old one without losing the
stored credentials. :meth:`CredentialCipher.needs_rotation` tells a store which tokens were made
under an older key, and :meth:`CredentialCipher.rotate` re-encrypts them under the first key.

A provider key is *bound* to the endpoint it was entered for: :meth:`CredentialCipher.encrypt_bound`
seals the provider and the base URL inside the token with the key, and
:meth:`CredentialCipher.decrypt_for` gives the key back only for that same provider and base URL.
So a row whose ``base_url`` was changed afterwards (through the API or in the database) cannot send
the key anywhere else. Tokens from before binding hold the bare key; :meth:`CredentialCipher.upgrade`
binds them to the endpoint their row names.

In the cloud the keys are in a secret (``PRISM_CREDS_KEY_SECRET_ARN``): the cipher the chat builds
(:meth:`CredentialCipher.following`, see :func:`build_cipher`) reads them as they are now
(TTL-cached by ``prism.secrets``) on every use, so a key put in front in the secret encrypts from
then on, within the cache's TTL, on running instances too, and the tokens made under the older keys
still decrypt while those stay listed. A secret that becomes empty or holds a key that is not a
Fernet key is not followed (a warning is logged, the last good keys are kept).

A plaintext key never leaves this process in any form but its last four characters
(:func:`last4`), and nothing here logs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from prism.errors import ConfigError, PrismError

if TYPE_CHECKING:
    from prism.config import Settings

log = logging.getLogger(__name__)


class CredentialsKeyMissingError(ConfigError):
    """Storing a provider key needs ``PRISM_CREDS_KEY``."""

    code = "creds_key_missing"
    status = 503


class CredentialDecryptError(PrismError):
    """A stored key was encrypted under a key that is no longer in ``PRISM_CREDS_KEY``."""

    code = "credential_undecryptable"
    status = 503  # the provider is unusable until its key is re-entered or the old key restored


class CredentialEndpointMismatchError(CredentialDecryptError):
    """A stored key was entered for another provider or base URL than the one it would be sent to."""

    code = "credential_endpoint_mismatch"


_BOUND_MARK = '{"prism_key":1,'


@dataclass(frozen=True)
class BoundKey:
    """A decrypted key and the endpoint it is bound to (``bound`` False: stored before binding)."""

    secret: str = field(repr=False)
    provider: str | None
    endpoint: str | None
    bound: bool = True

    def matches(self, provider: str, endpoint: str | None) -> bool:
        return not self.bound or (self.provider == provider and self.endpoint == endpoint)


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

    def __init__(self, keys: str | list[str], *, source: Callable[[], list[str]] | None = None) -> None:
        """``keys``: the Fernet keys, newest first; ``source``: where they are read again on every
        use (see :meth:`following`)."""
        key_list = parse_keys(keys) if isinstance(keys, str) else [k.strip() for k in keys if k.strip()]
        self._state = self._build(key_list)  # (keys, primary, all): replaced whole, never in part
        self._seen = self._state[0]  # what the source last returned, usable or not
        self._source = source

    @classmethod
    def following(cls, source: Callable[[], list[str]]) -> CredentialCipher:
        """A cipher under the keys ``source`` returns now, and on each later use under the keys it
        returns then (``source`` is called on every use: it must be cheap, TTL-cached)."""
        return cls(source(), source=source)

    @staticmethod
    def _build(key_list: list[str]) -> tuple[tuple[str, ...], Fernet, MultiFernet]:
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
        return tuple(key_list), fernets[0], MultiFernet(fernets)

    def _current(self) -> tuple[Fernet, MultiFernet]:
        """The primary key and all keys, as the source has them now."""
        if self._source is not None:
            keys = tuple(k.strip() for k in self._source() if k.strip())
            if keys != self._seen:
                self._seen = keys  # a bad value is warned about once, not on every use
                try:
                    self._state = self._build(list(keys))
                except ConfigError as exc:  # the message names no key
                    log.warning("PRISM_CREDS_KEY changed to unusable keys, the previous ones stay in use: %s", exc)
        _, primary, every = self._state
        return primary, every

    @classmethod
    def from_setting(cls, raw: str) -> CredentialCipher | None:
        """``None`` when no key is configured (the app still serves the demo model)."""
        return cls(raw) if parse_keys(raw) else None

    def encrypt(self, plaintext: str) -> str:
        return self._current()[1].encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._current()[1].decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken as exc:
            raise CredentialDecryptError(
                "a stored provider key cannot be decrypted with PRISM_CREDS_KEY; "
                "was a key removed before rotation? Re-enter the provider key in settings"
            ) from exc

    def encrypt_bound(self, secret: str, *, provider: str, endpoint: str | None) -> str:
        """Encrypt ``secret`` bound to ``provider`` and ``endpoint`` (None: the provider's own)."""
        body = {"prism_key": 1, "provider": provider, "endpoint": endpoint, "secret": secret}
        return self.encrypt(json.dumps(body, separators=(",", ":")))

    def open_bound(self, token: str) -> BoundKey:
        plain = self.decrypt(token)
        if not plain.startswith(_BOUND_MARK):
            return BoundKey(plain, None, None, bound=False)
        try:
            body = json.loads(plain)
            return BoundKey(str(body["secret"]), str(body["provider"]), body["endpoint"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CredentialDecryptError("a stored provider key is malformed; re-enter it in settings") from exc

    def decrypt_for(self, token: str, *, provider: str, endpoint: str | None) -> str:
        """The key in ``token``, only if it was entered for ``provider`` at ``endpoint``."""
        key = self.open_bound(token)
        if not key.matches(provider, endpoint):
            raise endpoint_mismatch(provider, endpoint)
        return key.secret

    def upgrade(self, token: str, *, provider: str, endpoint: str | None) -> str | None:
        """``token`` re-encrypted under the primary key and bound (a token from before binding is
        bound to ``endpoint``), or None when it already is both. A bound token keeps its binding."""
        key = self.open_bound(token)
        if not key.bound:
            return self.encrypt_bound(key.secret, provider=provider, endpoint=endpoint)
        return self.rotate(token) if self.needs_rotation(token) else None

    def needs_rotation(self, token: str) -> bool:
        """True when ``token`` was not made under the primary (first) key."""
        try:
            self._current()[0].decrypt(token.encode("ascii"))
        except InvalidToken:
            return True
        return False

    def rotate(self, token: str) -> str:
        """Re-encrypt ``token`` under the primary key."""
        try:
            return self._current()[1].rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken as exc:
            raise CredentialDecryptError("a stored provider key cannot be decrypted for rotation") from exc


def endpoint_mismatch(provider: str, endpoint: str | None) -> CredentialEndpointMismatchError:
    where = endpoint or "its official endpoint"
    return CredentialEndpointMismatchError(
        f"the stored key for '{provider}' was entered for another endpoint, so it is not sent to {where}; "
        f"re-enter the key in Settings (PUT /api/settings/providers/{provider})"
    )


def build_cipher(settings: Settings) -> CredentialCipher | None:
    """The cipher of the stored provider keys (None: no ``PRISM_CREDS_KEY``). With
    ``PRISM_CREDS_KEY_SECRET_ARN`` it follows the secret (TTL-cached): a key rotated there is used
    by running instances within the cache's TTL. (Here, not in ``prism.bootstrap``: only the chat
    needs cryptography, and the zips of the other functions follow bootstrap's imports.)"""
    if settings.creds_key_secret_arn:
        return CredentialCipher.following(lambda: settings.creds_keys) if settings.creds_keys else None
    return CredentialCipher.from_setting(settings.creds_key)
