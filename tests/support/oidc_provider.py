"""A real OpenID Connect provider for the single sign-on tests: panva's ``oidc-provider`` on Node
(tests/support/oidc/server.mjs), 127.0.0.1 and a free port, its own signing keys.

with OIDCProvider([PRISM_CLIENT]) as idp:
    idp.issuer                      # http://127.0.0.1:<port>, its discovery document is served
    idp.sign_in(browser, url)       # follow an authorization URL as a browser would, sign a test user in

The test users (server.mjs): ``alice`` (group ``prism-admins``), ``bob`` (no group), ``carol`` (email
not verified); the password is ``<login>-password``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import httpx

from tests.support.net import free_port

HERE = Path(__file__).resolve().parent / "oidc"
CALLBACK = "http://testserver/api/auth/oidc/callback"  # the identity app under TestClient


@dataclass(frozen=True)
class RegisteredClient:
    """A client registered at the provider (a confidential one: id and secret)."""

    client_id: str
    client_secret: str
    redirect_uris: list[str] = field(default_factory=list)


#: Prism as registered at the provider, and another application of the same company.
PRISM_CLIENT = RegisteredClient("prism", "prism-client-secret-for-the-sso-tests-0123456789", [CALLBACK])
OTHER_CLIENT = RegisteredClient("other-app", "other-app-secret-for-the-sso-tests-0123456789", ["http://other.test/cb"])


def install() -> None:
    """``npm ci`` in tests/support/oidc when its node_modules is missing or older than the lock file
    (``make test`` runs it beforehand through scripts/web_deps.sh)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise FileNotFoundError("the OIDC tests need Node 20+ and npm")
    installed = HERE / "node_modules" / ".package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= (HERE / "package-lock.json").stat().st_mtime:
        return
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE, check=True, capture_output=True
    )


class OIDCProvider:
    def __init__(self, clients: list[RegisteredClient], *, keys_file: Path | None = None) -> None:
        self.clients = clients
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.keys_file = keys_file
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - open as long as the provider runs

    def start(self) -> None:
        install()
        env = {
            **os.environ,
            "OIDC_PORT": str(self.port),
            "OIDC_ISSUER": self.issuer,
            "OIDC_CLIENTS": json.dumps([vars(c) for c in self.clients]),
            "NODE_ENV": "test",
        }
        if self.keys_file is not None:
            env["OIDC_KEYS_FILE"] = str(self.keys_file)
        self.process = subprocess.Popen(
            ["node", "server.mjs"], cwd=HERE, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(self.discovery_url, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the OIDC provider did not start:\n{self.logs()}")
            time.sleep(0.1)

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def logs(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def __enter__(self) -> OIDCProvider:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._log.close()

    def sign_in(self, browser: httpx.Client, authorization_url: str, login: str = "alice") -> str:
        """Follow ``authorization_url`` as a browser would (``browser`` keeps the provider's cookies),
        sign ``login`` in through the interaction, and return the URL the provider sends the browser
        back to (the redirect URI with ``code`` and ``state``, or ``error``)."""
        return self._interact(browser, authorization_url, "login", {"login": login, "password": f"{login}-password"})

    def refuse(self, browser: httpx.Client, authorization_url: str) -> str:
        """As :meth:`sign_in`, but the user declines: the redirect carries ``error=access_denied``."""
        return self._interact(browser, authorization_url, "abort", {})

    def _interact(self, browser: httpx.Client, url: str, action: str, fields: dict[str, str]) -> str:
        response = browser.get(url)
        while response.is_redirect:
            location = urljoin(str(response.url), response.headers["location"])
            if not location.startswith(self.issuer):
                return location  # back to the client
            if "/interaction/" in location:
                details = browser.get(location)
                assert details.status_code == 200, details.text
                response = browser.post(f"{location}/{action}", data=fields)
            else:
                response = browser.get(location)
        raise AssertionError(f"the provider did not redirect back: {response.status_code} {response.text}")
