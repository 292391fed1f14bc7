"""The configuration of ``make up`` without Docker (scripts/dev.py, scripts/local_config.py): the
ports are the single source of every derived URL, an explicit derived value wins, an old ``.env``
is unpinned by the bootstrap, the writer follows the bus, and the Makefile passes service names."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import scripts.dev as dev
from scripts.bootstrap_env import bootstrap, parse
from scripts.local_config import LocalConfigError, LocalSettings

ROOT = Path(__file__).resolve().parents[3]
PORTS = {
    "PRISM_CHAT_PORT": "9100",
    "PRISM_INGESTION_PORT": "9101",
    "PRISM_QUERY_PORT": "9102",
    "PRISM_WEB_PORT": "9103",
    "PRISM_EMULATOR_PORT": "4666",
}
#: What `.env.example` held before the ports became the single source (and what an old .env has).
OLD_ENV = """PRISM_ENV=local
PRISM_API_KEY=old-key
PRISM_CORS_ORIGINS=http://localhost:3001,http://127.0.0.1:3001
# Where the SDK inside the chat function sends its events.
PRISM_INGEST_URL=http://127.0.0.1:8101
AWS_ENDPOINT_URL=http://127.0.0.1:4566
AWS_REGION=us-east-1
"""


def ctx_with(tmp_path: Path, env_file_text: str | None = None, **environ: str) -> dev.Context:
    env_file = tmp_path / ".env"
    if env_file_text is not None:
        env_file.write_text(env_file_text)
    return dev.context({"PRISM_ENV_FILE": str(env_file), "PRISM_STATE_DIR": str(tmp_path / "state"), **environ})


def test_ports_alone_move_every_derived_url(tmp_path: Path) -> None:
    ctx = ctx_with(tmp_path, **PORTS)
    assert ctx.env["PRISM_INGEST_URL"] == "http://127.0.0.1:9101"
    assert ctx.env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4666"
    assert ctx.env["PRISM_CORS_ORIGINS"] == "http://localhost:9103,http://127.0.0.1:9103"
    # The browser calls the web origin, which forwards /api/... to the functions on their ports.
    assert ctx.local.web_config() == {"chatApiUrl": "", "chatStreamUrl": None, "queryApiUrl": ""}
    assert ctx.local.upstreams() == {
        "chat": "http://127.0.0.1:9100",
        "query": "http://127.0.0.1:9102",
        "identity": "http://127.0.0.1:8103",
    }
    by_name = {s.name: s for s in dev.services(ctx.env)}
    assert by_name["emulator"].argv[-1] == "4666" and by_name["emulator"].health == "http://127.0.0.1:4666/moto-api/"
    assert by_name["ingestion"].health == "http://127.0.0.1:9101/readyz"
    assert "9102" in by_name["query"].argv and "9100" in by_name["chat"].argv
    # The derived values travel with every service's spec (the supervisor's environment is older).
    spec = dev.to_spec(by_name["chat"], ctx, 1)
    assert spec.env["PRISM_INGEST_URL"] == "http://127.0.0.1:9101"
    assert spec.env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4666"
    assert spec.env["PRISM_SPOOL_DIR"] == str(tmp_path / "state" / "spool" / "chat")


def test_a_derived_value_set_explicitly_wins_from_the_environment_or_the_env_file(tmp_path: Path) -> None:
    ctx = ctx_with(
        tmp_path,
        "PRISM_INGEST_URL=http://ingest.internal:80\nPRISM_CHAT_PORT=7000\n",
        AWS_ENDPOINT_URL="http://localstack:4566",
        PRISM_CORS_ORIGINS="https://prism.example.com",
        PRISM_WEB_CHAT_URL="https://chat.example.com",
        PRISM_CHAT_PORT="7100",  # the environment wins over .env
        **{k: v for k, v in PORTS.items() if k != "PRISM_CHAT_PORT"},
    )
    assert ctx.env["PRISM_INGEST_URL"] == "http://ingest.internal:80"
    assert ctx.env["AWS_ENDPOINT_URL"] == "http://localstack:4566"
    # The web UI's own origin is always allowed besides the explicit ones.
    assert ctx.env["PRISM_CORS_ORIGINS"] == "https://prism.example.com,http://localhost:9103,http://127.0.0.1:9103"
    assert ctx.local.chat_port == 7100
    assert ctx.local.web_config()["chatApiUrl"] == "https://chat.example.com"
    assert ctx.local.web_config()["queryApiUrl"] == ""  # still the web origin


def test_an_env_file_from_the_old_example_stops_overriding_the_ports_once_bootstrapped(tmp_path: Path) -> None:
    # GIVEN a .env written from the old example, which pinned the derived URLs
    shutil.copy(ROOT / ".env.example", tmp_path / ".env.example")
    (tmp_path / ".env").write_text(OLD_ENV + "PRISM_CHAT_TIMEOUT_S=99\n")
    before = ctx_with(tmp_path, **PORTS)
    assert before.env["PRISM_INGEST_URL"] == "http://127.0.0.1:8101"  # the bug: the chat posts elsewhere

    # WHEN `make up`'s bootstrap runs THEN the old default pins are commented out, nothing else changes
    unpinned: list[str] = []
    generated = ["PRISM_CREDS_KEY", "PRISM_ADMIN_PASSWORD", "REDIS_PASSWORD", "POSTGRES_PASSWORD", "PRISM_CHAT_API_KEY"]
    assert bootstrap(tmp_path, unpinned=unpinned) == generated
    assert sorted(unpinned) == ["AWS_ENDPOINT_URL", "PRISM_CORS_ORIGINS", "PRISM_INGEST_URL"]
    values = parse((tmp_path / ".env").read_text())
    assert not {"PRISM_INGEST_URL", "AWS_ENDPOINT_URL", "PRISM_CORS_ORIGINS"} & set(values)
    assert values["PRISM_API_KEY"] == "old-key" and values["PRISM_CHAT_TIMEOUT_S"] == "99"
    assert "# PRISM_INGEST_URL=http://127.0.0.1:8101" in (tmp_path / ".env").read_text()
    after = ctx_with(tmp_path, **PORTS)
    assert after.env["PRISM_INGEST_URL"] == "http://127.0.0.1:9101"
    assert after.env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4666"
    assert after.env["PRISM_CORS_ORIGINS"] == "http://localhost:9103,http://127.0.0.1:9103"

    # A second run changes nothing more, and the example's derived docs are not re-added
    text = (tmp_path / ".env").read_text()
    assert bootstrap(tmp_path) == [] and (tmp_path / ".env").read_text() == text


def test_a_pin_the_user_chose_is_kept(tmp_path: Path) -> None:
    shutil.copy(ROOT / ".env.example", tmp_path / ".env.example")
    (tmp_path / ".env").write_text("PRISM_INGEST_URL=http://ingest.internal:8101\nAWS_ENDPOINT_URL=http://127.0.0.1:4566\n")
    unpinned: list[str] = []
    bootstrap(tmp_path, unpinned=unpinned)
    assert unpinned == ["AWS_ENDPOINT_URL"]
    assert parse((tmp_path / ".env").read_text())["PRISM_INGEST_URL"] == "http://ingest.internal:8101"


def test_a_fresh_env_from_the_example_derives_everything(tmp_path: Path) -> None:
    shutil.copy(ROOT / ".env.example", tmp_path / ".env.example")
    bootstrap(tmp_path)
    ctx = ctx_with(tmp_path, **PORTS)
    assert ctx.env["PRISM_INGEST_URL"] == "http://127.0.0.1:9101"
    assert ctx.env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4666"


def test_a_bad_port_names_its_variable(tmp_path: Path) -> None:
    with pytest.raises(LocalConfigError, match="PRISM_CHAT_PORT"):
        ctx_with(tmp_path, PRISM_CHAT_PORT="eighty")
    with pytest.raises(LocalConfigError, match="PRISM_QUERY_PORT"):
        LocalSettings.from_env({"PRISM_QUERY_PORT": "70000"})


def test_the_writer_follows_the_bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert dev.writer_argv({})[-1] == "writer.consumer"
    assert dev.writer_argv({"PRISM_BUS": "redis"})[-1] == "writer.consumer"
    monkeypatch.setattr(dev, "_importable", lambda module: module == "writer.kinesis_poller")
    assert dev.writer_argv({"PRISM_BUS": "kinesis"})[-2:] == ["-m", "writer.kinesis_poller"]
    monkeypatch.setattr(dev, "_importable", lambda module: False)
    monkeypatch.setattr(dev, "ROOT", tmp_path)
    with pytest.raises(dev.SetupError, match=r"PRISM_BUS=kinesis needs .*writer\.kinesis_poller"):
        dev.writer_argv({"PRISM_BUS": "kinesis"})


def test_only_what_a_service_reads_changes_its_configuration(tmp_path: Path) -> None:
    one = ctx_with(tmp_path, **PORTS)
    two = ctx_with(tmp_path, PRISM_CHAT_TIMEOUT_S="5", **PORTS)
    specs = [{s.name: dev.to_spec(s, c, 1).config for s in dev.services(c.env)} for c in (one, two)]
    assert specs[0]["emulator"] == specs[1]["emulator"]  # moto reads no Prism setting: keep its data
    assert specs[0]["chat"] != specs[1]["chat"]
    assert specs[0] == {s.name: dev.to_spec(s, one, 1).config for s in dev.services(one.env)}  # stable


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["restart", "writer"], "restart writer"),
        (["restart", "SERVICE=writer"], "restart writer"),
        (["restart"], "restart"),
        (["logs", "writer", "chat"], "logs writer chat"),
    ],
)
def test_make_passes_service_names(args: list[str], expected: str) -> None:
    out = subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    command, *names = expected.split()
    without_docker = f"python -m scripts.dev {expected}"
    with_docker = " ".join(["docker compose", "restart" if command == "restart" else "logs -f", *names])
    lines = [line.strip() for line in out.splitlines()]
    assert any(line.endswith(without_docker) or line == with_docker for line in lines), out


class FakeBus:
    def stats(self, group: str) -> dict[str, int]:
        return {"entries": 9, "pending": 2, "lag": 3, "dead_letters": 1}


def test_status_says_when_the_ingestion_api_is_down_and_reads_the_bus_instead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import prism.bootstrap

    from tests.support.net import free_port

    # GIVEN no stack running (nothing listens on the ingestion port)
    ctx = ctx_with(tmp_path, PRISM_INGESTION_PORT=str(free_port()))
    monkeypatch.setattr(prism.bootstrap, "build_bus", lambda settings: FakeBus())
    monkeypatch.setattr(dev.os, "environ", dict(dev.os.environ))  # pipeline_figures exports the stack's env
    assert dev.status(ctx) == 0
    out = capsys.readouterr().out
    # THEN every service is listed as stopped, and the figures come from the bus, saying why
    assert "supervisor: not running (make up)" in out
    assert all(f"{name:<10} stopped" in out for name in ("emulator", "ingestion", "writer", "query"))
    assert "ingestion API not answering" in out and "from the bus" in out
    assert "lag 3, pending 2, dead letters 1, entries 9" in out

    def no_bus(settings: object) -> None:
        raise ConnectionError("Redis: connection refused")

    monkeypatch.setattr(prism.bootstrap, "build_bus", no_bus)
    figures = dev.pipeline_figures(ctx)
    assert figures["status"] == "unavailable" and "connection refused" in figures["message"]
