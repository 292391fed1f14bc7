"""Signed-in callers for the tests of the guarded APIs (chat, query): users of each role, their
sessions (cookie + CSRF header), read tokens and ingestion keys, made through ``IdentityService``
itself (so what a test holds is exactly what a browser or a script would).

    identity = test_identity(PostgresIdentityStore(url))      # or MemoryIdentityStore() in unit tests
    app = create_app(..., identity=identity)
    client = Callers(identity).session(Role.member).on(TestClient(app))

Passwords are hashed with a cheap argon2id (these tests are about access, not hashing cost).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import uuid4

import httpx
from argon2 import PasswordHasher
from prism.auth import CSRF_HEADER, SESSION_COOKIE
from prism.clock import Clock, utc_now
from prism.identity.model import Principal, Role, User
from prism.identity.passwords import Passwords
from prism.identity.ports import IdentityStore
from prism.identity.service import IdentityService

PASSWORD = "test-password-for-access"
FAST_PASSWORDS = Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))

T = TypeVar("T")
C = TypeVar("C", bound=httpx.Client)


def test_identity(store: IdentityStore, clock: Clock = utc_now) -> IdentityService:
    """An identity service for an app under test: cheap password hashes, no throttling."""
    return IdentityService(store, passwords=FAST_PASSWORDS, clock=clock)


test_identity.__test__ = False  # type: ignore[attr-defined]  # not a test, despite its name


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine of the service from a sync test (in a thread of its own when a loop runs here)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclass(frozen=True)
class Caller:
    """What a client sends to be someone: cookies and headers (none: anonymous)."""

    name: str
    user: User | None = None
    cookies: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    token: str | None = None  # a read token's or an ingestion key's secret

    def on(self, client: C) -> C:
        """``client`` sending these credentials on every request (its other cookies and headers kept)."""
        for k, v in self.cookies.items():
            client.cookies.set(k, v)
        client.headers.update(self.headers)
        return client

    def kwargs(self, method: str = "GET") -> dict[str, Any]:
        """Per-request ``headers``/``cookies`` (the CSRF header only on state changes)."""
        headers = dict(self.headers)
        if method.upper() in ("GET", "HEAD", "OPTIONS"):
            headers.pop(CSRF_HEADER, None)
        return {"headers": headers, "cookies": dict(self.cookies)}


ANONYMOUS = Caller("anonymous")


class Callers:
    """Makes users and their credentials on one identity service (the app's)."""

    def __init__(self, identity: IdentityService) -> None:
        self.identity = identity
        self._admin: User | None = None

    def user(self, role: Role | str = Role.member, email: str | None = None) -> User:
        role = Role(role)
        email = email or f"{role.value}-{uuid4().hex[:10]}@example.com"
        hashed = self.identity.passwords.hash(PASSWORD)
        user = User(id=uuid4(), email=email, role=role, created_at=self.identity.clock(), password_hash=hashed)
        return self.identity.store.create_user(user)

    def session(self, who: Role | str | User = Role.admin) -> Caller:
        """A signed-in browser: the ``prism_session`` cookie and its ``X-CSRF-Token``."""
        user = who if isinstance(who, User) else self.user(who)
        signed = run(self.identity.login(user.email, PASSWORD, address="testclient"))
        return Caller(
            f"{user.role.value} session",
            user=signed.user,
            cookies={SESSION_COOKIE: signed.session_token},
            headers={CSRF_HEADER: signed.csrf_token},
        )

    def _admin_principal(self) -> Principal:
        if self._admin is None:
            self._admin = self.user(Role.admin)
        return Principal(kind="session", role=Role.admin, user=self._admin)

    def read_token(self, who: Role | str | User = Role.member) -> Caller:
        """A personal read token (``Authorization: Bearer prism_rt_...``) of a user of ``who``."""
        user = who if isinstance(who, User) else self.user(who)
        _, token = run(self.identity.create_key(self._admin_principal(), "read", "tests", user_id=user.id))
        return Caller(f"{user.role.value} read token", user=user, headers={"Authorization": f"Bearer {token}"},
                      token=token)  # fmt: skip

    def ingest_key(self, project: str = "default") -> Caller:
        """An ingestion key of ``project`` (``Authorization: Bearer prism_ik_...``)."""
        _, token = run(self.identity.create_key(self._admin_principal(), "ingest", "tests", project=project))
        return Caller("ingestion key", headers={"Authorization": f"Bearer {token}"}, token=token)


def signed_in(client: C, identity: IdentityService, role: Role | str = Role.admin) -> C:
    """``client`` signed in as a new user of ``role`` (the usual default of the API tests: admin)."""
    return Callers(identity).session(role).on(client)
