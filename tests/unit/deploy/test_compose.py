"""compose.yaml, its Dockerfiles, the LocalStack init hooks and .env.example, checked statically.

There is no Docker engine here (nor a compose plugin that knows the current spec), so the file is
validated against the Compose Specification JSON schema and its wiring is asserted directly.
"""

from __future__ import annotations

import copy
import os
import re
import stat
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "compose.yaml"
SCHEMA_CANDIDATES = (
    Path(__file__).resolve().parent / "schemas" / "compose-spec.json",
    ROOT.parent / "shared" / "schemas" / "compose-spec.json",
)
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
SERVICES = {"timescaledb", "redis", "localstack", "migrate", "ingestion", "writer", "query", "chat", "web"}
PYTHON_SERVICES = {"migrate", "ingestion", "writer", "chat"}
# Long-running services that others wait on: each needs a real healthcheck.
HEALTHCHECKED = {"timescaledb", "redis", "localstack", "ingestion", "writer", "chat"}


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def compose_schema() -> dict[str, Any]:
    import json

    for path in SCHEMA_CANDIDATES:
        if path.exists():
            schema: dict[str, Any] = json.loads(path.read_text())
            return schema
    pytest.fail(f"Compose Specification schema not found in {[str(p) for p in SCHEMA_CANDIDATES]}")


def validate(doc: dict[str, Any]) -> None:
    schema = compose_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    cls(schema).validate(doc)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    svcs: dict[str, Any] = compose["services"]
    return svcs


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    validate(compose)


def test_the_schema_check_is_live_a_misspelt_condition_is_rejected(compose: dict[str, Any]) -> None:
    # GIVEN the real file with one depends_on condition misspelt
    broken = copy.deepcopy(compose)
    broken["services"]["chat"]["depends_on"]["ingestion"]["condition"] = "service_healty"
    # THEN the schema rejects it (so the test above is not vacuous)
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)


def test_every_service_of_the_stack_is_defined(services: dict[str, Any]) -> None:
    assert set(services) >= SERVICES, f"missing: {sorted(SERVICES - set(services))}"


def test_localstack_is_pinned_to_the_last_account_free_release(services: dict[str, Any]) -> None:
    assert services["localstack"]["image"] == "localstack/localstack:4.14.0"
    enabled = {s.strip() for s in services["localstack"]["environment"]["SERVICES"].split(",")}
    assert enabled >= {"s3", "kinesis", "sqs"}


def test_timescaledb_is_a_pinned_image_of_a_current_postgres_on_a_named_volume(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    db = services["timescaledb"]
    # 2.28.x is TimescaleDB's last series for PostgreSQL 15 (2.29 removed it): compose runs 17 or later
    assert re.fullmatch(r"timescale/timescaledb:2\.\d+\.\d+-pg(1[7-9]|[2-9]\d)", db["image"]), db["image"]
    volume = next(v for v in db["volumes"] if v.endswith(":/var/lib/postgresql/data"))
    assert volume.split(":")[0] in compose["volumes"], "the data directory must be a named volume"


def test_every_image_is_pinned(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        if "image" in svc:
            assert ":" in svc["image"] and not svc["image"].endswith(":latest"), name


def test_redis_keeps_an_append_only_file_and_requires_the_generated_password(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    redis = services["redis"]
    command = " ".join(redis["command"]) if isinstance(redis["command"], list) else redis["command"]
    assert "--appendonly yes" in command
    assert "--requirepass" in command and "REDIS_PASSWORD" in command
    assert "REDIS_PASSWORD" in redis["environment"]["REDIS_PASSWORD"]
    assert any(v.split(":")[0] in compose["volumes"] for v in redis["volumes"])


def test_long_running_services_have_healthchecks(services: dict[str, Any]) -> None:
    for name in HEALTHCHECKED:
        check = services[name].get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
        assert check["test"][0] in {"CMD", "CMD-SHELL"}, name


def test_depends_on_conditions_are_valid_and_satisfiable(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        deps = svc.get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: use the long depends_on form with a condition"
        for target, spec in deps.items():
            assert target in services, f"{name} depends on unknown service {target}"
            condition = spec["condition"]
            assert condition in CONDITIONS, f"{name} -> {target}: {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target}: no healthcheck"
            if condition == "service_completed_successfully":
                assert services[target].get("restart", "no") == "no", f"{target} must be a one-shot service"


def test_the_pipeline_starts_in_order(services: dict[str, Any]) -> None:
    assert services["migrate"]["depends_on"]["timescaledb"]["condition"] == "service_healthy"
    for name in ("writer", "chat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["ingestion"]["depends_on"]["localstack"]["condition"] == "service_healthy"
    assert services["chat"]["depends_on"]["ingestion"]["condition"] == "service_healthy"


def test_python_services_read_env_file_and_use_the_compose_network(services: dict[str, Any]) -> None:
    for name in PYTHON_SERVICES:
        svc = services[name]
        assert svc["env_file"] in (".env", [".env"]), name
        env = svc["environment"]
        assert "@timescaledb:5432/" in env["PRISM_DATABASE_URL"], name
        assert "@redis:6379" in env["PRISM_REDIS_URL"] and "REDIS_PASSWORD" in env["PRISM_REDIS_URL"], name
        assert env["AWS_ENDPOINT_URL"] == "http://localstack:4566", name
    assert services["chat"]["environment"]["PRISM_INGEST_URL"] == "http://ingestion:8101"


def test_commands_match_the_functions_entry_points(services: dict[str, Any]) -> None:
    assert services["migrate"]["command"] == ["python", "-m", "prism.migrate"]
    assert services["writer"]["command"] == ["python", "-m", "writer.consumer"]
    assert "ingestion.app:app" in services["ingestion"]["command"]
    assert "chat.app:app" in services["chat"]["command"]


@pytest.mark.parametrize(
    ("service", "port"), [("chat", 8100), ("ingestion", 8101), ("localstack", 4566), ("web", 3001)]
)
def test_published_ports_are_local_only(services: dict[str, Any], service: str, port: int) -> None:
    ports = services[service]["ports"]
    assert f"127.0.0.1:{port}:{port}" in ports, ports


def test_no_port_is_published_on_all_interfaces(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        for mapping in svc.get("ports", []):
            assert str(mapping).startswith("127.0.0.1:"), f"{name}: {mapping}"


def test_web_service_builds_web_and_serves_its_config(services: dict[str, Any]) -> None:
    web = services["web"]
    context = web["build"]["context"] if isinstance(web["build"], dict) else web["build"]
    assert context.rstrip("/") in ("./web", "web")
    assert (ROOT / "web" / "Dockerfile").exists() and not web.get("profiles")  # `make up` starts it
    dockerfile = (ROOT / "web" / "Dockerfile").read_text()
    assert "npm ci" in dockerfile and "npm run build" in dockerfile and "/web/out" in dockerfile
    assert "listen 3001;" in (ROOT / "web" / "docker" / "nginx.conf").read_text()
    assert "config.json" in " ".join(web["healthcheck"]["test"])
    assert {"PRISM_WEB_CHAT_URL", "PRISM_WEB_QUERY_URL"} <= set(web["environment"])


NGINX = ROOT / "web" / "docker" / "nginx.conf"
#: The compose service each function's paths go to (compose.yaml's service names and ports).
NGINX_UPSTREAMS = {"chat": "http://chat:8100", "query": "http://query:8102", "identity": "http://identity:8103"}


def nginx_api_locations() -> dict[str, tuple[str, set[str]]]:
    """``location ~ ^/api/(a|b)(/|$) { ... proxy_pass ... }`` blocks: upstream URL -> (service
    variable's block text, prefixes)."""
    text = NGINX.read_text()
    out: dict[str, tuple[str, set[str]]] = {}
    for names, block in re.findall(r"location ~ \^/api/\(([a-z|-]+)\)\(/\|\$\) \{(.*?)\n    \}", text, re.S):
        url = re.search(r"set \$\w+ (http://\S+);", block)
        assert url and "proxy_pass $" in block, block
        out[url.group(1)] = (block, {f"/api/{n}" for n in names.split("|")})
    return out


def test_nginx_forwards_the_same_route_table_as_the_local_web_server() -> None:
    from scripts.local_config import ROUTES

    locations = nginx_api_locations()
    assert set(locations) == set(NGINX_UPSTREAMS.values())
    for service, prefixes in ROUTES.items():
        _, names = locations[NGINX_UPSTREAMS[service]]
        assert names == set(prefixes), service


def test_nginx_streams_the_chat_and_says_who_the_client_is() -> None:
    text = NGINX.read_text()
    chat_block, _ = nginx_api_locations()[NGINX_UPSTREAMS["chat"]]
    assert "proxy_buffering off;" in chat_block  # the reply's server-sent events, token by token
    for line in ("proxy_http_version 1.1;", "proxy_set_header Host $http_host;",
                 "proxy_set_header X-Forwarded-For $remote_addr;", "proxy_set_header X-Forwarded-Proto $scheme;",
                 "proxy_set_header X-Forwarded-Host $http_host;", "proxy_request_buffering off;"):  # fmt: skip
        assert line in text, line
    # every function that is down answers JSON naming it, not nginx's HTML page
    for service in ("chat", "query", "identity"):
        assert f"the {service} API is not answering" in text


def test_the_web_image_writes_a_same_origin_config_unless_told_otherwise(tmp_path: Path) -> None:
    import json
    import subprocess

    script = (ROOT / "web" / "docker" / "40-prism-config.sh").read_text()
    target = tmp_path / "config.json"
    script = script.replace("/usr/share/nginx/html/config.json", str(target))
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    subprocess.run(["sh", "-c", script], env=base, check=True)
    assert json.loads(target.read_text()) == {"chatApiUrl": "", "chatStreamUrl": None, "queryApiUrl": ""}
    elsewhere = {**base, "PRISM_WEB_CHAT_URL": "https://chat.example.com", "PRISM_WEB_QUERY_URL": "https://q.example"}
    subprocess.run(["sh", "-c", script], env=elsewhere, check=True)
    assert json.loads(target.read_text()) == {
        "chatApiUrl": "https://chat.example.com", "chatStreamUrl": None, "queryApiUrl": "https://q.example"
    }

def dockerfile_targets(path: Path) -> set[str]:
    return set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", path.read_text(), flags=re.MULTILINE | re.IGNORECASE))


def test_compose_builds_existing_targets_of_the_functions_dockerfile(services: dict[str, Any]) -> None:
    for name in PYTHON_SERVICES:
        build = services[name]["build"]
        dockerfile = ROOT / build["context"] / build["dockerfile"]
        assert dockerfile.exists(), dockerfile
        assert build["target"] in dockerfile_targets(dockerfile), f"{name}: no stage {build['target']}"


def test_functions_dockerfile_installs_from_the_lock_file_only() -> None:
    text = (ROOT / "functions" / "Dockerfile").read_text()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    syncs = re.findall(r"uv sync[^\n]*", code)
    assert syncs and all("--frozen" in s and "--no-dev" in s for s in syncs), syncs
    # litellm only in the chat image: the ingestion/writer image must stay small.
    functions_stage = text.split("AS build-functions", 1)[1].split("FROM ", 1)[0]
    assert "--extra chat" not in functions_stage
    assert re.search(r"^USER\s+(?!root)\S+", text, flags=re.MULTILINE), "run as a non-root user"


# ---------------------------------------------------------------- LocalStack init hooks


def test_localstack_mounts_the_init_hooks(services: dict[str, Any]) -> None:
    mounts = services["localstack"]["volumes"]
    assert any(m.startswith("./localstack/init/ready.d:/etc/localstack/init/ready.d") for m in mounts), mounts


def test_init_hooks_are_executable_and_create_bucket_stream_and_queue() -> None:
    hooks = sorted((ROOT / "localstack" / "init" / "ready.d").glob("*.sh"))
    assert hooks
    text = ""
    for hook in hooks:
        assert hook.read_text().startswith("#!"), f"{hook.name}: no shebang"
        assert hook.stat().st_mode & stat.S_IXUSR, f"{hook.name} is not executable"
        text += hook.read_text()
    assert "awslocal" in text
    assert "create-bucket" in text and "PRISM_RAW_BUCKET" in text
    assert "create-stream" in text and "PRISM_KINESIS_STREAM" in text
    assert "create-queue" in text


# ---------------------------------------------------------------- .env.example


def env_example() -> dict[str, str]:
    out = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


REQUIRED_VARS = {
    "PRISM_ENV", "PRISM_DATABASE_URL", "PRISM_REDIS_URL", "PRISM_API_KEY", "PRISM_BUS", "PRISM_STREAM",
    "PRISM_KINESIS_STREAM", "PRISM_STREAM_MAXLEN", "PRISM_REDACTOR", "PRISM_KEEP_RAW", "PRISM_RAW_STORE",
    "PRISM_RAW_BUCKET", "PRISM_CREDS_KEY", "PRISM_DEMO_MODEL", "AWS_REGION", "REDIS_PASSWORD",
}  # PRISM_CORS_ORIGINS, PRISM_INGEST_URL, AWS_ENDPOINT_URL follow the ports: tests/unit/deploy/test_config_docs.py
GENERATED_SECRETS = ("PRISM_API_KEY", "PRISM_CREDS_KEY", "REDIS_PASSWORD")


def test_env_example_lists_every_variable() -> None:
    missing = REQUIRED_VARS - set(env_example())
    assert not missing, sorted(missing)


def test_env_example_leaves_generated_secrets_empty_and_says_who_fills_them() -> None:
    env = env_example()
    lines = (ROOT / ".env.example").read_text().splitlines()
    for name in GENERATED_SECRETS:
        assert env[name] == "", f"{name} must be empty in .env.example"
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{name}="))
        comment = " ".join(lines[max(0, index - 3) : index]).lower()
        assert "generated" in comment and "make up" in comment, f"{name}: say that make up generates it"


def test_env_example_prism_variables_are_real_settings() -> None:
    from chat.config import ChatSettings
    from prism_sdk import ENV_VARS as SDK_VARS

    known = {f"PRISM_{name.upper()}" for name in ChatSettings.model_fields} | set(SDK_VARS)
    unknown = {k for k in env_example() if k.startswith("PRISM_")} - known
    assert not unknown, f"not read by prism.config or prism_sdk (typo?): {sorted(unknown)}"


def test_variables_compose_interpolates_have_a_default_or_are_in_env_example() -> None:
    text = COMPOSE.read_text()
    env = env_example()
    for match in re.finditer(r"(?<!\$)\$\{([A-Z0-9_]+)(:?[-?][^}]*)?\}", text):
        name, modifier = match.group(1), match.group(2) or ""
        defaulted = modifier.lstrip(":").startswith("-")
        assert name in env or defaulted, f"${{{name}}} has no default and is not in .env.example"


def test_env_example_defaults_work_without_docker() -> None:
    env = env_example()
    assert env["PRISM_ENV"] == "local"
    assert env["PRISM_DATABASE_URL"].startswith("postgresql://") and "127.0.0.1" in env["PRISM_DATABASE_URL"]
    assert os.path.basename(env["PRISM_DATABASE_URL"]) == "prism"
    from scripts.dev import context

    derived = context({"PRISM_ENV_FILE": str(ROOT / ".env.example")}).env  # make up, nothing else set
    assert derived["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert derived["PRISM_INGEST_URL"] == "http://127.0.0.1:8101"
