"""compose.yaml, its Dockerfiles, the LocalStack init hooks and .env.example, checked statically.

There is no Docker engine here (nor a compose plugin that knows the current spec), so the file is
validated against the Compose Specification JSON schema and its wiring is asserted directly.
"""

from __future__ import annotations

import copy
import http.server
import json
import os
import re
import stat
import subprocess
import sys
import threading
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
SERVICES = {
    "timescaledb", "redis", "localstack", "migrate", "ingestion", "writer", "kinesis-poller", "query", "identity",
    "chat", "web",
}  # fmt: skip
#: The services of the one functions image (same build target and image name, each its own command).
FUNCTIONS_IMAGE_SERVICES = {"migrate", "ingestion", "writer", "kinesis-poller", "query", "identity"}
PYTHON_SERVICES = FUNCTIONS_IMAGE_SERVICES | {"chat"}
# Long-running services that others wait on: each needs a real healthcheck.
HEALTHCHECKED = {"timescaledb", "redis", "localstack", "ingestion", "writer", "query", "identity", "chat", "web"}


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
    assert unpinned(services["localstack"]["image"]) == "localstack/localstack:4.14.0"
    enabled = {s.strip() for s in services["localstack"]["environment"]["SERVICES"].split(",")}
    assert enabled >= {"kinesis", "sqs"}
    # its S3 lives in memory only (persistence is a Pro feature): compose keeps nothing there
    assert "s3" not in enabled


def test_timescaledb_is_a_pinned_image_of_a_current_postgres_on_a_named_volume(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    db = services["timescaledb"]
    # 2.28.x is TimescaleDB's last series for PostgreSQL 15 (2.29 removed it): compose runs 17 or later
    assert re.fullmatch(r"timescale/timescaledb:2\.\d+\.\d+-pg(1[7-9]|[2-9]\d)", unpinned(db["image"])), db["image"]
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


def test_python_services_use_the_compose_network(services: dict[str, Any]) -> None:
    for name in PYTHON_SERVICES:
        env = services[name]["environment"]
        assert "@timescaledb:5432/" in env["PRISM_DATABASE_URL"], name
        assert env["AWS_ENDPOINT_URL"] == "http://localstack:4566", name
    for name in ("ingestion", "writer"):
        url = services[name]["environment"]["PRISM_REDIS_URL"]
        assert "@redis:6379" in url and "REDIS_PASSWORD" in url, name
    assert services["chat"]["environment"]["PRISM_INGEST_URL"] == "http://ingestion:8101"


# ---------------------------------------------------------------- secrets: each service only its own

#: The secrets of .env (a variable holding one, or a URL with a password in it) and who may have them.
SECRETS = {
    "POSTGRES_PASSWORD", "REDIS_PASSWORD", "PRISM_API_KEY", "PRISM_CHAT_API_KEY", "PRISM_CREDS_KEY",
    "PRISM_ADMIN_PASSWORD", "PRISM_OIDC_CLIENT_SECRET",
}  # fmt: skip
ALLOWED_SECRETS = {
    "timescaledb": {"POSTGRES_PASSWORD"},
    "redis": {"REDIS_PASSWORD"},
    "localstack": set(),
    "migrate": {"POSTGRES_PASSWORD"},
    "ingestion": {"POSTGRES_PASSWORD", "REDIS_PASSWORD", "PRISM_API_KEY"},
    "writer": {"POSTGRES_PASSWORD", "REDIS_PASSWORD"},
    "kinesis-poller": {"POSTGRES_PASSWORD"},
    "query": {"POSTGRES_PASSWORD"},
    "identity": {"POSTGRES_PASSWORD", "PRISM_ADMIN_PASSWORD", "PRISM_OIDC_CLIENT_SECRET"},
    "chat": {"POSTGRES_PASSWORD", "PRISM_CREDS_KEY", "PRISM_CHAT_API_KEY"},
    "web": set(),
}
#: The ones a service cannot start without: compose refuses to start with them empty (``${VAR:?}``).
REQUIRED_SECRETS = {
    "timescaledb": {"POSTGRES_PASSWORD"},
    "redis": {"REDIS_PASSWORD"},
    "ingestion": {"PRISM_API_KEY", "REDIS_PASSWORD", "POSTGRES_PASSWORD"},
    "identity": {"PRISM_ADMIN_PASSWORD"},
    "chat": {"PRISM_CREDS_KEY", "PRISM_CHAT_API_KEY"},
}


def secrets_in(value: Any) -> set[str]:
    """The secrets a service's definition interpolates (environment, command, healthcheck...)."""
    text = yaml.safe_dump(value)
    return {name for name in re.findall(r"\$\{([A-Z0-9_]+)", text) if name in SECRETS}


def test_no_service_reads_the_whole_env_file(services: dict[str, Any]) -> None:
    assert not [name for name, svc in services.items() if "env_file" in svc]


def test_every_service_gets_only_the_secrets_it_needs(services: dict[str, Any]) -> None:
    assert set(ALLOWED_SECRETS) == set(services), "add the new service to ALLOWED_SECRETS"
    for name, svc in services.items():
        extra = secrets_in(svc) - ALLOWED_SECRETS[name]
        assert not extra, f"{name} gets secrets it does not use: {sorted(extra)}"
    # the narrowest ones, spelt out
    assert [n for n, svc in services.items() if "PRISM_CREDS_KEY" in secrets_in(svc)] == ["chat"]
    assert [n for n, svc in services.items() if "PRISM_ADMIN_PASSWORD" in secrets_in(svc)] == ["identity"]


def test_the_secrets_table_is_live_a_leaked_key_is_caught(services: dict[str, Any]) -> None:
    leaky = copy.deepcopy(services["query"])
    leaky["environment"]["PRISM_CREDS_KEY"] = "${PRISM_CREDS_KEY:?}"
    assert "PRISM_CREDS_KEY" in secrets_in(leaky) - ALLOWED_SECRETS["query"]


def test_required_secrets_have_no_default_and_stop_compose_when_empty(services: dict[str, Any]) -> None:
    for name, required in REQUIRED_SECRETS.items():
        text = yaml.safe_dump(services[name])
        for secret in required:
            uses = re.findall(r"\$\{" + secret + r"(:?[-?]?)", text)
            assert uses and all(u == ":?" for u in uses), f"{name}: ${{{secret}:?...}} (no default), found {uses}"


def test_no_default_database_password(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text()
    assert "${POSTGRES_PASSWORD:?" in text
    assert not re.search(r"\$\{POSTGRES_PASSWORD:?-", text), "POSTGRES_PASSWORD must not have a default"
    assert compose["services"]["timescaledb"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


# ---------------------------------------------------------------- one image for the Python services


def test_one_image_for_the_python_services(services: dict[str, Any]) -> None:
    images = {services[n]["image"] for n in FUNCTIONS_IMAGE_SERVICES}
    builds = [services[n]["build"] for n in FUNCTIONS_IMAGE_SERVICES]
    assert len(images) == 1, images
    assert all(b == builds[0] for b in builds) and builds[0]["target"] == "functions"
    commands = {tuple(services[n]["command"]) for n in FUNCTIONS_IMAGE_SERVICES}
    assert len(commands) == len(FUNCTIONS_IMAGE_SERVICES), "each service runs its own command"
    assert services["chat"]["image"] not in images and services["chat"]["build"]["target"] == "chat"


# ---------------------------------------------------------------- nginx in front: who the client is

FORWARDING_APIS = ("chat", "query", "identity")


def test_the_apis_trust_forwarded_headers_from_nginx_only(compose: dict[str, Any], services: dict[str, Any]) -> None:
    import ipaddress

    web_address = services["web"]["networks"]["default"]["ipv4_address"]
    subnet = compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
    default = re.fullmatch(r"\$\{PRISM_WEB_ADDRESS:-([\d.]+)\}", web_address)
    subnet_default = re.fullmatch(r"\$\{PRISM_COMPOSE_SUBNET:-([\d./]+)\}", subnet)
    assert default and subnet_default, (web_address, subnet)
    assert ipaddress.ip_address(default.group(1)) in ipaddress.ip_network(subnet_default.group(1))
    for name in FORWARDING_APIS:
        command = services[name]["command"]
        assert command[0] == "uvicorn", name
        trusted = command[command.index("--forwarded-allow-ips") + 1]
        assert trusted == web_address, f"{name} trusts {trusted}, not nginx's address"


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
    assert "create-bucket" not in text and "PRISM_RAW_BUCKET" not in text  # raw payloads: the volume
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
GENERATED_SECRETS = ("PRISM_API_KEY", "PRISM_CREDS_KEY", "REDIS_PASSWORD", "POSTGRES_PASSWORD")


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
    from scripts.bootstrap_env import GENERATED  # `make up` adds these to .env even if the example lacks them

    text = COMPOSE.read_text()
    env = {**env_example(), **dict.fromkeys(GENERATED, "")}
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


# ---------------------------------------------------------------- LocalStack: healthy only when Prism's hook ran

PRISM_HOOK = "10-prism-resources.sh"


def localstack_health_command(services: dict[str, Any], url: str) -> list[str]:
    test = services["localstack"]["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "python3", test
    command = [sys.executable, *test[2:]]
    assert any("http://127.0.0.1:4566/_localstack/init/ready" in part for part in command)
    return [part.replace("http://127.0.0.1:4566/_localstack/init/ready", url) for part in command]


def test_localstack_healthcheck_names_prisms_hook_and_requires_successful(services: dict[str, Any]) -> None:
    assert (ROOT / "localstack" / "init" / "ready.d" / PRISM_HOOK).exists()
    text = " ".join(services["localstack"]["healthcheck"]["test"])
    assert PRISM_HOOK in text and "SUCCESSFUL" in text


@pytest.mark.parametrize(
    ("answer", "healthy"),
    [
        ({"completed": True, "scripts": [{"stage": "READY", "name": PRISM_HOOK, "state": "SUCCESSFUL"}]}, True),
        # the hooks not mounted: the stage completes with nothing run
        ({"completed": True, "scripts": []}, False),
        ({"completed": True, "scripts": [{"stage": "READY", "name": PRISM_HOOK, "state": "ERROR"}]}, False),
        ({"completed": False, "scripts": [{"stage": "READY", "name": PRISM_HOOK, "state": "RUNNING"}]}, False),
        ({"completed": False, "scripts": [{"stage": "READY", "name": PRISM_HOOK, "state": "UNKNOWN"}]}, False),
        # another hook failed
        (
            {
                "completed": True,
                "scripts": [
                    {"stage": "READY", "name": PRISM_HOOK, "state": "SUCCESSFUL"},
                    {"stage": "READY", "name": "20-other.sh", "state": "ERROR"},
                ],
            },
            False,
        ),
        # some other script succeeded, not Prism's
        ({"completed": True, "scripts": [{"stage": "READY", "name": "other.sh", "state": "SUCCESSFUL"}]}, False),
    ],
)
def test_localstack_healthcheck_runs_against_the_init_endpoints_answers(
    services: dict[str, Any], answer: dict[str, Any], healthy: bool
) -> None:
    body = json.dumps(answer).encode()

    class Init(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/_localstack/init/ready" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Init)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/_localstack/init/ready"
        result = subprocess.run(localstack_health_command(services, url), capture_output=True, timeout=30)
    finally:
        server.shutdown()
        server.server_close()
    assert (result.returncode == 0) is healthy, result.stderr.decode()


def test_localstack_is_unhealthy_when_it_does_not_answer(services: dict[str, Any]) -> None:
    from tests.support.net import free_port

    url = f"http://127.0.0.1:{free_port()}/_localstack/init/ready"
    result = subprocess.run(localstack_health_command(services, url), capture_output=True, timeout=30)
    assert result.returncode != 0


def test_localstack_cache_is_on_a_named_volume_and_only_the_aws_clients_wait_for_it(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    mounts = services["localstack"]["volumes"]
    volume = next(m for m in mounts if m.endswith(":/var/lib/localstack"))
    assert volume.split(":")[0] in compose["volumes"]
    # ingestion may publish to its Kinesis (PRISM_BUS=kinesis), the poller reads it and its SQS;
    # the Redis writer and query read raw payloads from the volume, not from LocalStack
    waiting = {name for name, svc in services.items() if "localstack" in svc.get("depends_on", {})}
    assert waiting == {"ingestion", "kinesis-poller"}


# ---------------------------------------------------------------- raw payloads: a volume, not LocalStack's S3

#: Who touches the raw payload store in compose: ingestion writes the payloads it offloads; the writer
#: and the kinesis-poller read the events sent by reference (and the poller's handler, like
#: ``python -m writer.replay`` run in the writer service, writes/reads the dead letters beside them);
#: query reads them for the log detail view.
RAW_STORE_SERVICES = {"ingestion", "writer", "kinesis-poller", "query"}
RAW_SETTINGS = ("PRISM_RAW_STORE", "PRISM_RAW_DIR", "PRISM_RAW_BUCKET")


def named_mounts(compose: dict[str, Any], svc: dict[str, Any]) -> dict[str, str]:
    """A service's named-volume mounts (short syntax): container path -> volume name."""
    out = {}
    for mount in svc.get("volumes", []):
        source, _, rest = str(mount).partition(":")
        if source in compose["volumes"]:
            out[rest.split(":")[0]] = source
    return out


def interpolated(env: dict[str, Any]) -> dict[str, str]:
    """A service's environment as compose would pass it with an empty .env: ``${X:-d}`` is d,
    ``${X:?...}`` (a required secret) a placeholder."""

    def one(value: Any) -> str:
        text = str(value)
        text = re.sub(r"\$\{[A-Z0-9_]+:\?[^}]*\}", "from-env", text)
        return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", text)

    return {k: one(v) for k, v in env.items()}


def test_the_raw_store_is_a_file_store_on_one_named_volume_mounted_at_its_dir_wherever_it_is_used(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    volumes = set()
    for name in RAW_STORE_SERVICES:
        env = services[name]["environment"]
        assert env.get("PRISM_RAW_STORE") == "file", f"{name}: PRISM_RAW_STORE={env.get('PRISM_RAW_STORE')}"
        raw_dir = env["PRISM_RAW_DIR"]
        assert raw_dir.startswith("/") and "$" not in raw_dir, f"{name}: a fixed absolute path, not {raw_dir}"
        mounts = named_mounts(compose, services[name])
        assert raw_dir in mounts, f"{name}: nothing mounted at PRISM_RAW_DIR {raw_dir} (gone with the container)"
        volumes.add((mounts[raw_dir], raw_dir))
    # one volume, at one path: a row's file:// URI is the absolute path the writing service saw
    assert len(volumes) == 1, volumes
    ((volume, _),) = volumes
    assert compose["volumes"][volume] in (None, {}) or not compose["volumes"][volume].get("external"), volume


def test_services_that_do_not_touch_raw_payloads_get_neither_the_volume_nor_the_settings(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    raw_volume = named_mounts(compose, services["query"])[services["query"]["environment"]["PRISM_RAW_DIR"]]
    for name, svc in services.items():
        if name in RAW_STORE_SERVICES:
            continue
        assert raw_volume not in named_mounts(compose, svc).values(), f"{name} mounts {raw_volume}"
        env = svc.get("environment", {})
        assert not [k for k in RAW_SETTINGS if k in env], f"{name} gets raw store settings it does not use"


def test_no_service_keeps_raw_payloads_in_localstack_s3(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        env = interpolated(svc.get("environment", {}))
        assert env.get("PRISM_RAW_STORE", "file") == "file", name
        assert "PRISM_RAW_BUCKET" not in env, f"{name}: a bucket in LocalStack's in-memory S3"


def test_the_composition_root_builds_the_file_store_and_dead_letters_on_the_volume(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    from prism import bootstrap
    from prism.adapters.files import FileDeadLetters, FileRawPayloadStore
    from prism.config import Settings

    for name in RAW_STORE_SERVICES:
        env = interpolated(services[name]["environment"])
        fields = {k.removeprefix("PRISM_").lower(): v for k, v in env.items() if k.startswith("PRISM_")}
        settings = Settings.model_validate({k: v for k, v in fields.items() if k in Settings.model_fields})
        mount = Path(env["PRISM_RAW_DIR"])
        store = bootstrap.build_raw_store(settings)
        assert isinstance(store, FileRawPayloadStore) and store.root == mount.resolve(), name
        letters = bootstrap.build_dead_letter_store(settings)
        assert isinstance(letters, FileDeadLetters) and mount.resolve() in letters.root.parents, name


def test_each_image_makes_its_volume_mount_points_for_its_user(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    """A new named volume takes the owner of the image's directory it is mounted on; a path the image
    lacks is made by Docker, owned by root, and uid 10001 could not write its payloads there."""
    for name, svc in services.items():
        build = svc.get("build")
        if not isinstance(build, dict) or "target" not in build:
            continue
        text = (ROOT / build["context"] / build["dockerfile"]).read_text()
        stage = re.split(r"^FROM\s", text.split(f" AS {build['target']}\n", 1)[1], flags=re.MULTILINE)[0]
        made = " ".join(re.findall(r"mkdir -p ([^&\n]+)", stage)).split()
        owned = " ".join(re.findall(r"chown prism:prism ([^&\n]+)", stage)).split()
        for path in named_mounts(compose, svc):
            assert path in made and path in owned, f"{name}: stage {build['target']} does not make {path} for prism"


# ---------------------------------------------------------------- images: non-root, current, pinned

DOCKERFILES = sorted(
    p for p in [*ROOT.glob("functions/Dockerfile*"), ROOT / "web" / "Dockerfile"] if not p.name.endswith("ignore")
)


def final_stages(path: Path) -> dict[str, str]:
    """Each stage's name (or index) -> its text."""
    parts = re.split(r"^(?=FROM\s)", path.read_text(), flags=re.MULTILINE)
    return {str(i): part for i, part in enumerate(parts) if part.startswith("FROM")}


def test_every_dockerfile_runs_as_a_numeric_non_root_user() -> None:
    assert len(DOCKERFILES) >= 3, DOCKERFILES
    for path in DOCKERFILES:
        users = re.findall(r"^USER\s+(\S+)", path.read_text(), flags=re.MULTILINE)
        assert users, f"{path.name}: no USER"
        last = users[-1]
        assert re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", last), f"{path.name}: USER {last} (numeric, not root)"


def test_the_web_build_uses_a_supported_node_lts() -> None:
    text = (ROOT / "web" / "Dockerfile").read_text()
    match = re.search(r"^FROM node:(\d+)\.\d+\.\d+-\S+ AS build", text, flags=re.MULTILINE)
    assert match, "pin node by exact version"
    major = int(match.group(1))
    assert major >= 22 and major % 2 == 0, f"Node {major}: an even (LTS) release, 22 or later"


def test_the_web_image_is_an_unprivileged_nginx_with_prisms_locations() -> None:
    text = (ROOT / "web" / "Dockerfile").read_text()
    runtime = final_stages(ROOT / "web" / "Dockerfile")
    last = list(runtime.values())[-1]
    assert last.startswith("FROM nginxinc/nginx-unprivileged:"), last.splitlines()[0]
    assert re.search(r"^USER 101$", last, flags=re.MULTILINE)
    assert "COPY docker/nginx.conf /etc/nginx/conf.d/default.conf" in text
    listen = re.findall(r"listen (\d+);", NGINX.read_text())
    assert listen and all(int(port) > 1024 for port in listen), listen  # no root needed to bind it


#: Every image the stack and its images are built from, exactly (a tag that names one release).
#: A new one fails here until it is added, pinned; a release pins each by digest after its tag
#: (`make pin-images`: `name:tag@sha256:<64 hex>`, docs/deploy.md), which these tests accept.
IMAGES = {
    "timescale/timescaledb:2.28.2-pg17",
    "redis:7.4.6-alpine",
    "localstack/localstack:4.14.0",
    "ghcr.io/astral-sh/uv:0.13.8",
    "python:3.13.9-slim-bookworm",
    "node:22.21.1-bookworm-slim",
    "nginxinc/nginx-unprivileged:1.28.0-alpine",
    "public.ecr.aws/awsguru/aws-lambda-adapter:0.9.1",
    # The Lambda base: AWS republishes 3.12 with its patches; the release pins its digest.
    "public.ecr.aws/lambda/python:3.12",
}


def unpinned(ref: str) -> str:
    """`name:tag` of a reference, with or without its digest; a digest is `@sha256:<64 hex>`."""
    name, at, digest = ref.partition("@")
    assert not at or re.fullmatch(r"sha256:[0-9a-f]{64}", digest), f"{ref}: a digest is @sha256:<64 hex>"
    return name


def image_references(services: dict[str, Any]) -> set[str]:
    refs = {svc["image"] for svc in services.values() if "image" in svc and "build" not in svc}
    for path in DOCKERFILES:
        text = path.read_text()
        args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, flags=re.MULTILINE))
        stages = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", text, flags=re.MULTILINE | re.IGNORECASE))
        for ref in re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE):
            for arg, value in args.items():
                ref = ref.replace("${" + arg + "}", value)
            if ref not in stages:
                refs.add(ref)
    return refs


def test_every_image_reference_is_listed_and_pinned_exactly(services: dict[str, Any]) -> None:
    refs = {unpinned(ref) for ref in image_references(services)}
    assert refs == IMAGES, f"new: {sorted(refs - IMAGES)}; gone: {sorted(IMAGES - refs)}"
    for ref in refs - {"public.ecr.aws/lambda/python:3.12"}:
        tag = ref.rsplit(":", 1)[1].split("@")[0]
        assert re.match(r"\d+\.\d+\.\d+", tag), f"{ref}: an exact release, not a moving tag"


def test_built_images_are_named_so_one_build_serves_many_services(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        if "build" in svc:
            assert re.fullmatch(r"prism-[a-z]+:\$\{PRISM_IMAGE_TAG:-local\}", svc.get("image", "")), name
