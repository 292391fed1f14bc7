"""The SDK README's quick start, as written, on a machine with no network (issue 14 §6).

The first Python block of ``sdk/README.md`` runs in a fresh interpreter of the project's virtual
environment with a clean environment: no ``LITELLM_*`` variable (the SDK must set what it needs
itself), proxies pointing at a closed port, and a ``sitecustomize`` that refuses (and records)
every connection or name lookup to anything but the loopback. The call goes to the tests' fake
OpenAI server (``OPENAI_BASE_URL``), the event to the real ingestion API.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support.fake_openai import FakeOpenAI
from tests.support.stack import Stack

ROOT = Path(__file__).resolve().parents[3]

# Loaded by the interpreter at start (it is on PYTHONPATH): refuses and records every
# connection and name lookup that is not to the loopback, before any of the SDK or LiteLLM runs.
SITECUSTOMIZE = """
import os, socket

_LOG = os.environ["OUTBOUND_LOG"]
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def _refuse(what):
    with open(_LOG, "a") as f:
        f.write(repr(what) + "\\n")
    raise OSError(101, "network refused by the test: " + repr(what))


_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_getaddrinfo = socket.getaddrinfo


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in _LOOPBACK:
        _refuse(address)
    return _connect(self, address)


def connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in _LOOPBACK:
        _refuse(address)
    return _connect_ex(self, address)


def getaddrinfo(host, *args, **kwargs):
    if host not in _LOOPBACK and host is not None:
        _refuse(("getaddrinfo", host))
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
socket.getaddrinfo = getaddrinfo
"""


def readme_quickstart() -> str:
    """The code of the README's Quickstart section (its first python block)."""
    text = (ROOT / "sdk" / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "sdk/README.md has a Quickstart python block"
    return match.group(1)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once it is closed


def test_the_readme_quickstart_runs_offline_with_no_outbound_connection(
    stack: Stack, fake: FakeOpenAI, tmp_path: Path
) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "outbound.log"
    proxy = f"http://127.0.0.1:{closed_port()}"
    code = readme_quickstart() + textwrap.dedent("""
        import os
        print("stats", prism_sdk.stats().sent, os.environ.get("LITELLM_LOCAL_MODEL_COST_MAP"))
    """)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),  # no user configuration of any tool
        "PYTHONPATH": str(tmp_path / "site"),
        "OUTBOUND_LOG": str(log),
        "HTTP_PROXY": proxy,
        "HTTPS_PROXY": proxy,
        "http_proxy": proxy,
        "https_proxy": proxy,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "PRISM_INGEST_URL": stack.ingest_url,
        "PRISM_API_KEY": stack.api_key,
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_BASE": fake.base_url,
    }
    # (600 s: a hang guard; a fresh process imports LiteLLM, ~40 s on a loaded 2-core box. That nothing
    # waited on the network is what the guard's log below says, not a stopwatch)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr
    outbound = log.read_text() if log.exists() else ""
    assert outbound == "", f"outbound connection attempts: {outbound}\n{out.stderr}"
    assert "cost map" not in out.stderr, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == fake.behaviour.text, out.stdout  # the fake's reply, printed by the quick start
    assert lines[-1] == "stats 1 True", out.stdout  # one event sent; the SDK set the local price map
    assert fake.requests and fake.requests[-1].body["model"] == "gpt-4o-mini"
    stack.wait_for_rows(1, where="model = 'gpt-4o-mini'")


def test_the_network_guard_itself_refuses_and_records_an_outbound_connection(tmp_path: Path) -> None:
    """Without this, the test above could pass with a guard that never fires."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "outbound.log"
    code = textwrap.dedent("""
        import socket
        try:
            socket.create_connection(("203.0.113.7", 443), timeout=1)
        except OSError as e:
            print(e)
    """)
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(tmp_path / "site"), "OUTBOUND_LOG": str(log)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert "network refused by the test" in out.stdout, out.stdout + out.stderr
    assert "203.0.113.7" in log.read_text()
