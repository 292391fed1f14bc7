"""Single sign-on with OpenID Connect: the authorization code flow with PKCE (S256), against any
standard provider (Keycloak, Okta, Entra ID, Google, Cognito) named by its issuer URL.

Authlib does the protocol: its ``AsyncOAuth2Client`` builds the authorization URL (state, nonce, code
challenge) and exchanges the code at the token endpoint with the client's secret; the ID token's
signature is checked by joserfc against the provider's JWKS and its claims (``iss``, ``aud``, ``exp``,
``iat``, ``nonce``, ``azp``, ``at_hash``) by Authlib's ``CodeIDToken``. Nothing here parses a JWT by hand.

What a login in progress needs to finish (state, nonce, PKCE verifier, redirect URI) travels in a
short-lived cookie sealed with Fernet (AES and HMAC) under a key derived from the client secret: the
browser carries it, cannot read or change it, and nothing is kept server-side between the two legs.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from dataclasses import asdict, dataclass
from typing import Any, cast

from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from authlib.oidc.core import CodeIDToken
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from prism.clock import Clock, utc_now
from prism.config import Settings
from prism.errors import (
    BadRequestError,
    ConfigError,
    ForbiddenError,
    NotFoundError,
    UnauthorizedError,
    UnavailableError,
)

try:  # Authlib's HTTP client is httpx2 where installed (else httpx): one HTTP stack for every call here
    import httpx2 as http
except ImportError:  # pragma: no cover - depends on the environment
    import httpx as http  # type: ignore[no-redef]

log = logging.getLogger(__name__)

ROLES = ("viewer", "member", "admin")  # lowest first
LOGIN_TTL_S = 600  # a login not finished in 10 minutes starts over
CLOCK_LEEWAY_S = 60  # the provider's clock and ours may differ by this much
DISCOVERY_TTL_S = 3600
HTTP_TIMEOUT_S = 10.0


class OIDCDisabledError(NotFoundError):
    code = "oidc_disabled"


class OIDCStateError(BadRequestError):
    """The callback does not belong to a login this browser started (missing, expired or forged
    state cookie, or a ``state`` that is not the cookie's)."""

    code = "oidc_state_mismatch"


class OIDCProviderError(UnauthorizedError):
    """The provider ended the login with an error (the user declined, the provider refused)."""

    code = "oidc_provider_error"


class OIDCCodeRejectedError(UnauthorizedError):
    """The token endpoint refused the code (used already, expired, wrong verifier or client)."""

    code = "oidc_code_rejected"


class OIDCTokenInvalidError(UnauthorizedError):
    """The ID token failed verification (signature, issuer, audience, expiry, nonce)."""

    code = "oidc_token_invalid"


class OIDCEmailUnverifiedError(ForbiddenError):
    code = "oidc_email_unverified"


class OIDCUnavailableError(UnavailableError):
    code = "oidc_provider_unavailable"


@dataclass(frozen=True)
class PendingLogin:
    """The first leg of a login, needed by the second: sealed into the login cookie."""

    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str


@dataclass(frozen=True)
class OIDCIdentity:
    """Who the provider says signed in, and the role their claims map to."""

    issuer: str
    subject: str
    email: str
    name: str | None
    role: str


@dataclass(frozen=True)
class OIDCConfig:
    issuer: str
    client_id: str
    client_secret: str
    scopes: str = "openid email profile"
    role_claim: str = "groups"
    role_map: tuple[tuple[str, str], ...] = ()
    default_role: str = "viewer"
    redirect_url: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> OIDCConfig:
        return cls(
            issuer=settings.oidc_issuer.strip().rstrip("/"),
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
            scopes=settings.oidc_scopes,
            role_claim=settings.oidc_role_claim,
            role_map=tuple(settings.oidc_roles.items()),
            default_role=settings.oidc_default_role,
            redirect_url=settings.oidc_redirect_url,
        )


class OIDCClient:
    """One provider: discovery and keys cached, logins begun and finished."""

    def __init__(self, config: OIDCConfig, *, clock: Clock = utc_now) -> None:
        if not config.client_id or not config.client_secret:
            raise ConfigError("PRISM_OIDC_CLIENT_ID and PRISM_OIDC_CLIENT_SECRET are required with PRISM_OIDC_ISSUER")
        self.config = config
        self.clock = clock
        self._sealer = Fernet(_derive_key(config.client_id, config.client_secret))
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = utc_now) -> OIDCClient | None:
        return cls(OIDCConfig.from_settings(settings), clock=clock) if settings.oidc_enabled else None

    # --- the provider's documents ------------------------------------------------------------------

    async def metadata(self) -> dict[str, Any]:
        """The discovery document, cached for an hour; its ``issuer`` must be the configured one."""
        now = self.clock().timestamp()
        if self._metadata is None or now - self._metadata_at > DISCOVERY_TTL_S:
            doc = await self._get_json(f"{self.config.issuer}/.well-known/openid-configuration")
            if str(doc.get("issuer", "")).rstrip("/") != self.config.issuer:
                raise OIDCUnavailableError("the provider's discovery document names another issuer")
            for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(doc.get(field), str):
                    raise OIDCUnavailableError(f"the provider's discovery document has no {field}")
            self._metadata, self._metadata_at, self._keys = doc, now, None
        return self._metadata

    async def keys(self, *, refresh: bool = False) -> KeySet:
        """The provider's signing keys (JWKS), fetched again when a token names an unknown key."""
        if self._keys is None or refresh:
            meta = await self.metadata()
            try:
                self._keys = KeySet.import_key_set(cast(Any, await self._get_json(meta["jwks_uri"])))
            except (JoseError, ValueError, TypeError, KeyError) as exc:
                raise OIDCUnavailableError("the provider's JWKS cannot be read") from exc
        return self._keys

    # --- the two legs of a login -------------------------------------------------------------------

    async def begin(self, redirect_uri: str) -> tuple[str, PendingLogin]:
        """The provider's authorization URL to send the browser to, and what the callback needs."""
        meta = await self.metadata()
        pending = PendingLogin(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(48),
            redirect_uri=redirect_uri,
        )
        async with self._oauth(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                meta["authorization_endpoint"],
                state=pending.state,
                nonce=pending.nonce,
                code_verifier=pending.code_verifier,
            )
        return str(url), pending

    async def finish(self, pending: PendingLogin, params: dict[str, str]) -> OIDCIdentity:
        """Check the callback's parameters against ``pending``, exchange the code, verify the ID token
        and read who signed in."""
        token = await self.exchange(pending, params)
        claims = await self.verify_id_token(
            token["id_token"], nonce=pending.nonce, access_token=token.get("access_token")
        )
        meta = await self.metadata()
        if self._needs_userinfo(claims) and meta.get("userinfo_endpoint") and token.get("access_token"):
            claims = {**await self._userinfo(meta["userinfo_endpoint"], token["access_token"], claims["sub"]), **claims}
        return self.identity(claims)

    async def exchange(self, pending: PendingLogin, params: dict[str, str]) -> dict[str, Any]:
        """The token endpoint's answer to the callback's code (``id_token`` not yet verified)."""
        if not secrets.compare_digest(params.get("state", ""), pending.state):
            raise OIDCStateError("the login's state does not match: start the sign-in again")
        if "iss" in params and params["iss"].rstrip("/") != self.config.issuer:  # RFC 9207: mix-up defence
            raise OIDCProviderError("the sign-in answer comes from another issuer")
        if "error" in params:
            error = "".join(c for c in params["error"][:64] if c.isalnum() or c in "_-.")
            raise OIDCProviderError(f"the provider ended the sign-in: {error or 'error'}")
        if not params.get("code"):
            raise OIDCProviderError("the provider sent no authorization code")
        meta = await self.metadata()
        async with self._oauth(pending.redirect_uri) as client:
            try:
                token = await client.fetch_token(
                    meta["token_endpoint"],
                    grant_type="authorization_code",
                    code=params["code"],
                    code_verifier=pending.code_verifier,
                    redirect_uri=pending.redirect_uri,
                )
            except OAuthError as exc:
                raise OIDCCodeRejectedError(f"the provider refused the code: {exc.error}") from exc
            except http.HTTPError as exc:
                raise OIDCUnavailableError("the provider's token endpoint cannot be reached") from exc
        if not isinstance(token.get("id_token"), str):
            raise OIDCTokenInvalidError("the provider sent no ID token")
        return dict(token)

    async def verify_id_token(self, id_token: str, *, nonce: str, access_token: str | None = None) -> dict[str, Any]:
        """The ID token's claims once its signature (the provider's JWKS) and claims check out."""
        meta = await self.metadata()
        registry = JWSRegistry(algorithms=list(meta.get("id_token_signing_alg_values_supported") or ["RS256"]))
        try:
            try:
                token = jwt.decode(id_token, await self.keys(), registry=registry)
            except InvalidKeyIdError:  # the provider rotated its keys
                token = jwt.decode(id_token, await self.keys(refresh=True), registry=registry)
            params: dict[str, Any] = {"nonce": nonce, "client_id": self.config.client_id}
            if access_token:
                params["access_token"] = access_token
            claims = CodeIDToken(
                token.claims,
                token.header,
                {
                    "iss": {"essential": True, "value": self.config.issuer},
                    "aud": {"essential": True, "value": self.config.client_id},
                    "sub": {"essential": True},
                    "nonce": {"essential": True, "value": nonce},
                },
                params,
            )
            claims.validate(now=int(self.clock().timestamp()), leeway=CLOCK_LEEWAY_S)
        except (JoseError, ValueError) as exc:
            detail = (exc.description or exc.error) if isinstance(exc, JoseError) else type(exc).__name__
            log.info("oidc: ID token refused (%s)", detail)
            raise OIDCTokenInvalidError(f"the ID token did not verify ({detail})") from exc
        return dict(claims)

    def identity(self, claims: dict[str, Any]) -> OIDCIdentity:
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise OIDCTokenInvalidError("the provider sent no email address (ask for the email scope)")
        if claims.get("email_verified") is False:
            raise OIDCEmailUnverifiedError("the provider has not verified this email address")
        name = claims.get("name")
        return OIDCIdentity(
            issuer=self.config.issuer,
            subject=str(claims["sub"]),
            email=email,
            name=name if isinstance(name, str) and name else None,
            role=self.role_for(claims),
        )

    def role_for(self, claims: dict[str, Any]) -> str:
        """The highest role any value of the role claim maps to, else the default role."""
        value: Any = claims
        for part in self.config.role_claim.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        mapping = dict(self.config.role_map)
        matched = [mapping[v] for v in values if isinstance(v, str) and v in mapping]
        return max(matched, key=ROLES.index) if matched else self.config.default_role

    # --- the login cookie --------------------------------------------------------------------------

    def seal(self, pending: PendingLogin) -> str:
        data = json.dumps(asdict(pending)).encode()
        return self._sealer.encrypt_at_time(data, int(self.clock().timestamp())).decode()

    def unseal(self, sealed: str | None) -> PendingLogin:
        """The login a cookie carries; :class:`OIDCStateError` when it is missing, forged or stale."""
        if not sealed:
            raise OIDCStateError("no sign-in is in progress in this browser (or it expired): start again")
        try:
            data = self._sealer.decrypt_at_time(sealed.encode(), LOGIN_TTL_S, int(self.clock().timestamp()))
            return PendingLogin(**json.loads(data))
        except (InvalidToken, ValueError, TypeError) as exc:
            raise OIDCStateError("the sign-in expired or its cookie is not ours: start again") from exc

    # --- plumbing ----------------------------------------------------------------------------------

    def _oauth(self, redirect_uri: str) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            scope=self.config.scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=HTTP_TIMEOUT_S,
        )

    def _needs_userinfo(self, claims: dict[str, Any]) -> bool:
        return "email" not in claims or self.config.role_claim.split(".")[0] not in claims

    async def _userinfo(self, url: str, access_token: str, subject: str) -> dict[str, Any]:
        info = await self._get_json(url, headers={"Authorization": f"Bearer {access_token}"})
        if info.get("sub") != subject:  # OIDC Core 5.3.2: else the answer is about someone else
            raise OIDCTokenInvalidError("the provider's userinfo is about another subject")
        return info

    async def _get_json(self, url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        try:
            async with http.AsyncClient(timeout=HTTP_TIMEOUT_S) as client:
                response = await client.get(url, headers=headers)
                response.raise_for_status()
                doc = response.json()
        except (http.HTTPError, ValueError) as exc:
            log.warning("oidc: %s: %s", url, type(exc).__name__)
            raise OIDCUnavailableError("the OpenID provider cannot be reached") from exc
        if not isinstance(doc, dict):
            raise OIDCUnavailableError("the OpenID provider answered something else than a JSON object")
        return doc


def _derive_key(client_id: str, client_secret: str) -> bytes:
    """A Fernet key of its own for the login cookie, derived (HKDF-SHA256) from the client secret."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"prism oidc login cookie " + client_id.encode())
    return base64.urlsafe_b64encode(hkdf.derive(client_secret.encode()))
