"""`pip install ./sdk` on its own: a fresh virtualenv gets prism-sdk with no dependency at all, and
it logs an event to the real ingestion API without LiteLLM installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.stack import Stack

ROOT = Path(__file__).resolve().parents[3]
UV = ROOT / "scripts" / "uv"


@pytest.fixture(scope="module")
def sdk_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("sdk-only") / "venv"
    subprocess.run([str(UV), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(UV), "pip", "install", "--quiet", "--python", str(python), str(ROOT / "sdk")], check=True, timeout=300
    )
    return python


def test_sdk_installs_alone_with_no_dependencies(sdk_venv: Path) -> None:
    out = subprocess.run(
        [str(UV), "pip", "freeze", "--python", str(sdk_venv)], capture_output=True, text=True, check=True
    )
    packages = [line.split("==")[0].split(" @ ")[0] for line in out.stdout.splitlines() if line.strip()]
    assert packages == ["prism-sdk"], out.stdout


def test_sdk_alone_logs_to_the_real_ingestion_api(
    sdk_venv: Path, clean_database: str, redis_url: str, stream_name: str
) -> None:
    code = """
import sys, prism_sdk
prism_sdk.init(ingest_url=sys.argv[1], api_key=sys.argv[2])
with prism_sdk.llm_call(provider="acme", model="acme-1") as call:
    call.set_output("hello", finish_reason="stop")
prism_sdk.flush(10)
print("litellm" in sys.modules, prism_sdk.stats().sent)
"""
    with Stack(clean_database, redis_url, stream_name) as stack:
        out = subprocess.run(
            [str(sdk_venv), "-c", code, stack.ingest_url, stack.api_key],
            capture_output=True, text=True, timeout=60, check=False, cwd="/",
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["False", "1"], out.stdout + out.stderr
        stack.wait_for_rows(1, where="provider = 'acme' AND model = 'acme-1'")
