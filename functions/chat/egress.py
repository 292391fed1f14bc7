"""Where the chat may connect: every provider endpoint is checked where the socket is opened.

A ``base_url`` is typed by whoever can reach the settings API, so the chat's own HTTP clients
(model discovery and LiteLLM's calls) connect only through :class:`GuardedTransport`. It resolves
the host itself, checks **every** address the name resolves to, and connects to one of those
checked addresses (never re-resolving, so a DNS answer that changes between the check and the
connect, as in DNS rebinding, cannot slip through). It also refuses any redirect, so a provider
cannot send the prompt or the key on to another host.

What an address may be (:func:`classify`):

- ``forbidden``, never allowed: link-local (``169.254.0.0/16``, ``fe80::/10``), the clouds'
  metadata services (``169.254.169.254``, ``fd00:ec2::254``, ``100.100.100.200``, and the names
  ``metadata.google.internal``, ``instance-data`` ...), multicast and reserved ranges;
- ``private``, allowed only when the admin allows private hosts (``PRISM_ALLOW_PRIVATE_PROVIDER_HOSTS``,
  on by default outside ``PRISM_ENV=cloud``, for a local Ollama or vLLM): loopback (``127.0.0.0/8``,
  ``::1``, ``localhost``), private ranges (``10/8``, ``172.16/12``, ``192.168/16``, ``100.64/10``,
  ``fc00::/7``) and every other address that is not globally reachable;
- ``public``: the rest.

IPv6 forms that carry an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``,
6to4 ``2002::/16``, IPv4-compatible ``::a.b.c.d``) are judged by the IPv4 address they carry.

Failures are deliberately plain: a refused address raises :class:`EgressRefusedError`, a subclass of
``httpx.ConnectError``, so a caller sees the same failure as a closed port (no oracle for what lies
behind an address). The reason goes to the server log only.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import anyio
import httpcore
import httpx

log = logging.getLogger(__name__)

Reach = Literal["public", "private", "forbidden"]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``(host, port) -> addresses``; the default asks the system resolver (``getaddrinfo``)."""

_FORBIDDEN_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",  # link-local, incl. AWS/GCP/Azure/OpenStack metadata 169.254.169.254
        "100.100.100.200/32",  # Alibaba Cloud metadata (inside 100.64/10)
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, incl. 255.255.255.255
        "fe80::/10",  # link-local
        "fd00:ec2::254/128",  # AWS metadata over IPv6 (inside fc00::/7)
        "ff00::/8",  # multicast
    )
)
_PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this host": a connect to 0.0.0.0 reaches the local machine
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::/128",
        "::1/128",
        "fc00::/7",  # unique local
        "fec0::/10",  # site-local (deprecated)
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")

#: Names of metadata services, refused whatever they resolve to.
METADATA_HOSTNAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class EgressRefusedError(httpx.ConnectError):
    """Prism did not connect (an address the policy refuses, or a redirect). Shown to a user only
    as a failed connection; the reason is in :attr:`reason` and the server log."""

    def __init__(self, reason: str) -> None:
        super().__init__("connection refused by Prism's outbound policy")
        self.reason = reason


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4, IPv4-compatible), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def classify(ip: IPAddress) -> Reach:
    """How far ``ip`` is from the public internet (see the module docstring)."""
    if isinstance(ip, ipaddress.IPv6Address):
        carried = embedded_ipv4(ip)
        if carried is not None:
            return classify(carried)
    if any(ip in net for net in _FORBIDDEN_NETWORKS):
        return "forbidden"
    if any(ip in net for net in _PRIVATE_NETWORKS) or not ip.is_global:
        return "private"
    return "public"


def parse_ip(host: str) -> IPAddress | None:
    """``host`` as an IP address (brackets and an IPv6 zone allowed), or None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def classify_name(host: str) -> Reach | None:
    """What a host *name* alone says: metadata names are forbidden, ``localhost`` is private."""
    name = host.rstrip(".").lower()
    if name in METADATA_HOSTNAMES:
        return "forbidden"
    if name == "localhost" or name.endswith(".localhost"):
        return "private"
    return None


async def system_resolve(host: str, port: int) -> list[str]:
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for info in infos:
        seen.setdefault(str(info[4][0]), None)
    return list(seen)


@dataclass(frozen=True)
class Refusal:
    """A host the policy refuses: its reach, and the resolved address that decided it, if any."""

    host: str
    reach: Reach
    address: str | None = None

    def __str__(self) -> str:
        if self.address is not None:
            return f"{self.host} resolves to {self.address}, a {self.reach} address"
        return f"{self.host} is a {self.reach} address"


@dataclass(frozen=True)
class EgressPolicy:
    """Which addresses the chat may connect to for a provider, and how names are resolved."""

    allow_private: bool = False
    resolver: Resolver = field(default=system_resolve, compare=False)

    def allows(self, reach: Reach) -> bool:
        return reach == "public" or (reach == "private" and self.allow_private)

    def refusal(self, host: str) -> Refusal | None:
        """Why ``host`` (a literal address or a name, before resolving) is refused, or None."""
        ip = parse_ip(host)
        reach = classify(ip) if ip is not None else classify_name(host)
        if reach is None or self.allows(reach):
            return None
        return Refusal(host, reach)

    def refusal_for_url(self, url: str) -> Refusal | None:
        """:meth:`refusal` for the host of ``url`` (what can be told without resolving it)."""
        return self.refusal(urlsplit(url).hostname or "")

    async def checked_addresses(self, host: str, port: int) -> list[str]:
        """Resolve ``host`` and return its addresses if every one is allowed; else raise
        :class:`EgressRefusedError` (a name that does not resolve raises ``httpcore.ConnectError``)."""
        refused = self.refusal(host)
        if refused is not None:
            raise EgressRefusedError(str(refused))
        if parse_ip(host) is not None:
            return [host.strip("[]")]
        try:
            addresses = list(await self.resolver(host, port))
        except OSError as exc:
            raise httpcore.ConnectError(f"could not resolve {host}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"could not resolve {host}")
        for address in addresses:
            ip = parse_ip(address)
            reach = classify(ip) if ip is not None else "forbidden"
            if not self.allows(reach):
                raise EgressRefusedError(str(Refusal(host, reach, address)))
        return addresses

    def transport(self) -> GuardedTransport:
        return GuardedTransport(self)

    def http_client(self, *, timeout: float | httpx.Timeout) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` that connects only where this policy allows, follows no
        redirect, and ignores proxy variables (a proxy would be the peer checked instead)."""
        return httpx.AsyncClient(transport=self.transport(), timeout=timeout, follow_redirects=False, trust_env=False)


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the policy allows."""

    def __init__(self, policy: EgressPolicy, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._policy = policy
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await self._policy.checked_addresses(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"could not resolve {host} in time") from exc
        except EgressRefusedError as exc:
            log.warning("provider connection to %s:%s refused: %s", host, port, exc.reason)
            raise
        last: Exception | None = None
        for address in addresses:  # the checked addresses only: never the name again
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise EgressRefusedError("unix sockets are not provider endpoints")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on a guarded connection pool; a redirect answer is an error, not followed."""

    def __init__(self, policy: EgressPolicy, *, network_backend: httpcore.AsyncNetworkBackend | None = None) -> None:
        super().__init__(trust_env=False)
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),  # SSL_CERT_FILE / SSL_CERT_DIR honoured
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(policy, network_backend),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if response.status_code in _REDIRECTS:
            await response.aclose()
            log.warning("provider at %s answered a redirect (%s): not followed", request.url.host, response.status_code)
            raise EgressRefusedError(f"{request.url.host} answered a redirect ({response.status_code})")
        return response
