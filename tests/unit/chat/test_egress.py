"""The outbound policy: which addresses a provider endpoint may be, checked where the socket is
opened. Names resolve through an injected resolver and connections go to a recording backend, so
no traffic is ever sent (least of all to a metadata address)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

import httpcore
import httpx
import pytest
from chat.egress import EgressPolicy, EgressRefusedError, GuardedTransport, classify

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


FORBIDDEN = [
    "169.254.169.254",  # AWS / GCP / Azure metadata
    "169.254.0.1",  # link-local
    "100.100.100.200",  # Alibaba Cloud metadata
    "fe80::1",
    "fe80::1%eth0",
    "fd00:ec2::254",  # AWS metadata over IPv6
    "::ffff:169.254.169.254",  # IPv4-mapped
    "::ffff:a9fe:a9fe",
    "64:ff9b::a9fe:a9fe",  # NAT64
    "64:ff9b::169.254.169.254",
    "2002:a9fe:a9fe::1",  # 6to4
    "::169.254.169.254",  # IPv4-compatible
    "224.0.0.1",
    "ff02::1",
    "255.255.255.255",
]
PRIVATE = [
    "127.0.0.1",
    "127.8.9.10",
    "::1",
    "::ffff:127.0.0.1",  # the IPv4-mapped loopback form
    "64:ff9b::7f00:1",  # NAT64 loopback
    "0.0.0.0",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "100.64.0.1",  # carrier-grade NAT
    "fc00::1",
    "fd12:3456::1",
    "::ffff:10.0.0.1",
    "192.0.2.1",  # documentation: not global
]
PUBLIC = ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "172.32.0.1"]


@pytest.mark.parametrize("address", FORBIDDEN)
def test_link_local_metadata_and_their_ipv6_forms_are_forbidden(address: str) -> None:
    assert classify(ipaddress.ip_address(address)) == "forbidden"


@pytest.mark.parametrize("address", PRIVATE)
def test_loopback_and_private_ranges_and_their_ipv6_forms_are_private(address: str) -> None:
    assert classify(ipaddress.ip_address(address)) == "private"


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_public(address: str) -> None:
    assert classify(ipaddress.ip_address(address)) == "public"


class Resolver:
    """Answers from a table (a list per name: one answer per call, the last one repeated)."""

    def __init__(self, answers: dict[str, list[Sequence[str]]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append(host)
        queue = self.answers[host]
        return queue.pop(0) if len(queue) > 1 else queue[0]


class RecordingBackend(httpcore.AsyncNetworkBackend):
    """Records where a connection would go and fails it: nothing is sent anywhere."""

    def __init__(self) -> None:
        self.connects: list[tuple[str, int]] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        raise httpcore.ConnectError("recorded, not connected")


async def _get(policy: EgressPolicy, url: str) -> tuple[RecordingBackend, BaseException]:
    backend = RecordingBackend()
    transport = GuardedTransport(policy, network_backend=backend)
    async with httpx.AsyncClient(transport=transport, follow_redirects=False) as client:
        with pytest.raises(httpx.ConnectError) as err:
            await client.get(url)
    return backend, err.value


@pytest.mark.parametrize("address", FORBIDDEN)
async def test_a_name_resolving_to_a_forbidden_address_is_never_connected_to(address: str) -> None:
    # GIVEN a harmless-looking name that resolves to a forbidden address, and private hosts allowed
    policy = EgressPolicy(allow_private=True, resolver=Resolver({"models.example.test": [[address]]}))
    # WHEN the chat connects to it
    backend, err = await _get(policy, "http://models.example.test:8080/v1/models")
    # THEN it refuses before any connection
    assert isinstance(err, EgressRefusedError) and address.split("%")[0] in err.reason
    assert backend.connects == []


@pytest.mark.parametrize("address", PRIVATE)
async def test_a_name_resolving_to_a_private_address_needs_the_admin_setting(address: str) -> None:
    resolver = Resolver({"ollama.lan": [[address]]})
    backend, err = await _get(EgressPolicy(allow_private=False, resolver=resolver), "http://ollama.lan:11434/v1")
    assert isinstance(err, EgressRefusedError) and backend.connects == []
    # allowed, the connection goes to the checked address itself, not to the name again
    backend, err = await _get(EgressPolicy(allow_private=True, resolver=resolver), "http://ollama.lan:11434/v1")
    assert not isinstance(err, EgressRefusedError) and backend.connects == [(address, 11434)]


@pytest.mark.parametrize(
    "url",
    [
        "http://[::ffff:127.0.0.1]:8080/v1",  # the IPv4-mapped loopback form
        "http://[::ffff:7f00:1]:8080/v1",
        "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next",  # the Lambda Runtime API
        "http://localhost:6379/",
        "http://[::1]:8080/v1",
        "http://10.0.0.1/v1",
    ],
)
async def test_literal_loopback_and_private_urls_are_refused_without_the_setting(url: str) -> None:
    backend, err = await _get(EgressPolicy(allow_private=False, resolver=Resolver({})), url)
    assert isinstance(err, EgressRefusedError) and backend.connects == []


@pytest.mark.parametrize("name", ["metadata.google.internal", "metadata.google.internal.", "instance-data", "METADATA"])
async def test_metadata_names_are_refused_whatever_they_resolve_to(name: str) -> None:
    resolver = Resolver({name: [["93.184.215.14"]]})
    backend, err = await _get(EgressPolicy(allow_private=True, resolver=resolver), f"http://{name}/computeMetadata/v1/")
    assert isinstance(err, EgressRefusedError) and backend.connects == [] and resolver.asked == []


async def test_every_resolved_address_is_checked_not_only_the_first() -> None:
    resolver = Resolver({"mixed.example.test": [["93.184.215.14", "169.254.169.254"]]})
    backend, err = await _get(EgressPolicy(allow_private=False, resolver=resolver), "http://mixed.example.test/v1")
    assert isinstance(err, EgressRefusedError) and backend.connects == []


async def test_dns_rebinding_is_caught_at_connect_time() -> None:
    # GIVEN a name that resolves to a public address first, then to loopback (a rebinding DNS server)
    resolver = Resolver({"rebind.example.test": [["93.184.215.14"], ["127.0.0.1"]]})
    policy = EgressPolicy(allow_private=False, resolver=resolver)
    # WHEN it is stored, nothing is resolved: a check then would prove nothing about later connects
    assert policy.refusal_for_url("http://rebind.example.test/v1") is None
    # THEN the first connect goes to the public address, and the next one is refused
    backend, err = await _get(policy, "http://rebind.example.test/v1/models")
    assert backend.connects == [("93.184.215.14", 80)]
    backend, err = await _get(policy, "http://rebind.example.test/v1/models")
    assert isinstance(err, EgressRefusedError) and backend.connects == []


async def test_a_name_that_does_not_resolve_is_a_plain_connect_error() -> None:
    async def fail(host: str, port: int) -> Sequence[str]:
        raise OSError("Name or service not known")

    backend, err = await _get(EgressPolicy(resolver=fail), "http://nowhere.example.test/v1")
    assert type(err) is httpx.ConnectError and backend.connects == []
