"""Provider keys at rest: Fernet under PRISM_CREDS_KEY, rotation with several keys."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from prism.credentials import (
    CredentialCipher,
    CredentialDecryptError,
    CredentialsKeyMissingError,
    last4,
)
from prism.errors import ConfigError

SECRET = "sk-test-0123456789abcdefWXYZ"


def test_round_trip_and_the_token_does_not_contain_the_key() -> None:
    cipher = CredentialCipher(Fernet.generate_key().decode())
    token = cipher.encrypt(SECRET)
    assert SECRET not in token
    assert cipher.decrypt(token) == SECRET


def test_rotation_re_encrypts_under_the_first_key() -> None:
    # GIVEN a key stored under the old key
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = CredentialCipher(old).encrypt(SECRET)
    # WHEN a new key is put in front of the old one
    both = CredentialCipher(f"{new}, {old}")
    # THEN the old token still decrypts, is flagged, and rotates to one the new key alone reads
    assert both.decrypt(token) == SECRET
    assert both.needs_rotation(token)
    rotated = both.rotate(token)
    assert not both.needs_rotation(rotated)
    assert CredentialCipher(new).decrypt(rotated) == SECRET


def test_a_token_under_a_removed_key_fails_with_a_clear_error() -> None:
    token = CredentialCipher(Fernet.generate_key().decode()).encrypt(SECRET)
    with pytest.raises(CredentialDecryptError) as err:
        CredentialCipher(Fernet.generate_key().decode()).decrypt(token)
    assert SECRET not in str(err.value)


def test_missing_and_malformed_keys() -> None:
    with pytest.raises(CredentialsKeyMissingError):
        CredentialCipher(" , ")
    assert CredentialCipher.from_setting("") is None
    with pytest.raises(ConfigError, match="key #2"):
        CredentialCipher(f"{Fernet.generate_key().decode()},not-a-key")


def test_last4_shows_only_the_tail_of_long_keys() -> None:
    assert last4(SECRET) == "WXYZ"
    assert last4("short") == ""
