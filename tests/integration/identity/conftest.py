"""Fixtures of the identity tests: the session database with the identity tables emptied (and the
seeded projects and settings back) before each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from argon2 import PasswordHasher
from prism.adapters.postgres_identity import PostgresIdentityStore
from prism.identity.passwords import Passwords

from tests.support.oidc_provider import OTHER_CLIENT, PRISM_CLIENT, OIDCProvider


def reset_identity(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE users, sessions, api_keys, invites, audit_log CASCADE")
        conn.execute("DELETE FROM projects WHERE slug NOT IN ('default', 'chat')")
        conn.execute(
            "INSERT INTO projects (slug, name) VALUES ('default', 'Default'), ('chat', 'Chat') ON CONFLICT DO NOTHING"
        )
        conn.execute("DELETE FROM app_config")
        conn.execute("""INSERT INTO app_config (key, value) VALUES ('chat_project', '"chat"')""")


@pytest.fixture
def identity_db(database_url: str) -> str:
    reset_identity(database_url)
    return database_url


@pytest.fixture
def pg_store(identity_db: str) -> Iterator[PostgresIdentityStore]:
    store = PostgresIdentityStore(identity_db)
    yield store
    store.close()


@pytest.fixture
def fast_passwords() -> Passwords:
    return Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


# --- single sign-on: a real OpenID provider (tests/support/oidc), one per session -----------------


@pytest.fixture(scope="session")
def oidc_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the provider writes its generated signing keys (an impostor provider reuses them)."""
    return tmp_path_factory.mktemp("oidc") / "jwks.json"


@pytest.fixture(scope="session")
def oidc_provider(oidc_keys: Path) -> Iterator[OIDCProvider]:
    """panva's oidc-provider on Node, with Prism's client and another application's registered."""
    with OIDCProvider([PRISM_CLIENT, OTHER_CLIENT], keys_file=oidc_keys) as idp:
        yield idp


@pytest.fixture(scope="session")
def impostor_provider(oidc_provider: OIDCProvider, oidc_keys: Path) -> Iterator[OIDCProvider]:
    """Another issuer signing with the same keys as ``oidc_provider`` (its tokens verify under that
    provider's JWKS: only their issuer tells them apart)."""
    with OIDCProvider([PRISM_CLIENT], keys_file=oidc_keys) as idp:
        yield idp


@pytest.fixture
def make_app(identity_db: str, fast_passwords: Passwords) -> Iterator[Any]:
    """Identity apps on the test database, built with the given settings, closed afterwards."""
    from tests.integration.identity.test_identity_api import App

    made: list[Any] = []

    def make(**settings: Any) -> Any:
        made.append(App(identity_db, fast_passwords, **settings))
        return made[-1]

    yield make
    for a in made:
        a.close()
