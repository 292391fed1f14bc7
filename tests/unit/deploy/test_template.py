"""template.yaml (AWS SAM), checked offline: cfn-lint on the source, the real SAM transform
(aws-sam-translator, what `sam validate` runs) followed by cfn-lint on its CloudFormation output,
and the properties Prism relies on asserted directly.

cfn-lint alone does not expand SAM: it misses a misspelt event property or a bad InvokeMode, which
the transform + lint step catches (see the two "is live" tests).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint
from cfnlint.decode import decode

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"
SECRET_VARS = ("PRISM_API_KEY", "PRISM_CREDS_KEY", "PRISM_DATABASE_URL", "PRISM_ADMIN_PASSWORD",
               "PRISM_OIDC_CLIENT_SECRET")
ZIP_FUNCTIONS = {  # logical id -> functions/requirements/<name>.txt (functions/lambda_build.py)
    "IngestionFunction": "ingestion",
    "QueryFunction": "query",
    "IdentityFunction": "identity",
    "WriterFunction": "writer",
    "WriterMaintenanceFunction": "writer",
    "MigrationsFunction": "writer",
}
URL_FUNCTIONS = ("ChatApiFunction", "ChatStreamFunction", "QueryFunction", "IdentityFunction")
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # the managed cache policy's id
STREAM_ROUTES = {  # CloudFront path pattern -> the method of the chat's SSE route there
    "/api/conversations/*/messages": "POST",
    "/api/conversations/*/messages/*/stream": "GET",
}
OIDC_ROUTES = "/api/auth/oidc/*"  # before /api/auth*: its policy forwards the viewer's host
VIEWER_ADDRESS = "CloudFront-Viewer-Address"
# The only actions for which AWS offers no resource-level permissions we could scope to.
WILDCARD_OK_ACTIONS = {
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}


def plain(value: Any) -> Any:
    """cfn-lint's decoded nodes as plain dicts, lists and strings."""
    return json.loads(json.dumps(value))


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    template, matches = decode(str(path))
    assert not matches, [str(m) for m in matches]
    assert template is not None
    result: dict[str, Any] = plain(template)
    return result


def sam_transform(template: dict[str, Any]) -> dict[str, Any]:
    """Expand the SAM resources like `sam deploy` would, with placeholder artifact locations."""
    from samtranslator.translator.transform import transform

    doc = json.loads(json.dumps(template))
    for resource in doc["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            if props.get("PackageType") == "Image":
                props["ImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/prism:placeholder"
            else:
                props["CodeUri"] = "s3://prism-placeholder/code.zip"

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    result: dict[str, Any] = transform(doc, {}, NoManagedPolicies())
    return result


def lint_errors(template: dict[str, Any]) -> list[str]:
    return [f"{m.rule.id} {m.message}" for m in lint(json.dumps(template)) if m.rule.id.startswith("E")]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    res: dict[str, Any] = template["Resources"]
    return res


@pytest.fixture(scope="module")
def transformed(template: dict[str, Any]) -> dict[str, Any]:
    return sam_transform(template)


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def functions(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in of_type(resources, "AWS::Serverless::Function").items()}


def env_of(props: dict[str, Any]) -> dict[str, Any]:
    variables: dict[str, Any] = props.get("Environment", {}).get("Variables", {})
    return variables


def ref_name(value: Any) -> str:
    """The logical id a Ref / GetAtt points to."""
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else target.split(".")[0])
    raise AssertionError(f"not a Ref/GetAtt: {value!r}")


def ref_names(value: Any) -> set[str]:
    """The logical ids a Ref / GetAtt, or either branch of an Fn::If of them, may point to."""
    if isinstance(value, dict) and "Fn::If" in value:
        return set().union(*(ref_names(branch) for branch in value["Fn::If"][1:]))
    if value == {"Ref": "AWS::NoValue"}:
        return set()
    return {ref_name(value)}


# ---------------------------------------------------------------- linters


@pytest.mark.parametrize("extra", [[], ["--include-checks", "I"]], ids=["default", "informational"])
def test_cfn_lint_passes_on_the_template(extra: list[str]) -> None:
    exe = str(Path(sys.executable).with_name("cfn-lint"))  # the locked version, not one on PATH
    proc = subprocess.run([exe, *extra, "--", str(TEMPLATE)], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_sam_transform_succeeds_and_its_cloudformation_passes_cfn_lint(transformed: dict[str, Any]) -> None:
    assert not lint_errors(transformed)


def test_transform_is_live_a_misspelt_kinesis_property_is_rejected(template: dict[str, Any]) -> None:
    from samtranslator.model.exceptions import InvalidDocumentException

    broken = json.loads(json.dumps(template))
    event = broken["Resources"]["WriterFunction"]["Properties"]["Events"]["InferenceLogged"]["Properties"]
    event["BisectBatchOnFunctionErrors"] = event.pop("BisectBatchOnFunctionError")
    with pytest.raises(InvalidDocumentException, match="BisectBatchOnFunctionErrors"):
        sam_transform(broken)


def test_lint_after_transform_is_live_a_bad_invoke_mode_is_rejected(template: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(template))
    broken["Resources"]["ChatStreamFunction"]["Properties"]["FunctionUrlConfig"]["InvokeMode"] = "STREAMING"
    assert any("STREAMING" in e for e in lint_errors(sam_transform(broken)))


def sam_cli() -> str | None:
    """The locked SAM CLI, tools/sam/.venv (`make setup` syncs it from tools/sam/uv.lock), else `sam` on PATH."""
    locked = ROOT / "tools" / "sam" / ".venv" / "bin" / "sam"
    return str(locked) if locked.is_file() else shutil.which("sam")


CLOSED_PORT_PROXY = "http://127.0.0.1:9"  # nothing listens there: any HTTP(S) call fails at once
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")  # dropped, any case, then set
NETWORK_TRIED = ("Unable to connect to proxy", "Failed to connect to proxy URL", "New version check failed")


def offline_sam_env(home: Path) -> dict[str, str]:
    """No AWS credentials or profile (a fresh HOME, no AWS_* but the region), telemetry off, every
    proxy a closed port, and the weekly "newer version?" GET to pypi.org marked as just done."""
    (home / ".aws-sam").mkdir(parents=True)
    (home / ".aws-sam" / "metadata.json").write_text(
        json.dumps({"lastVersionCheck": time.time(), "telemetryEnabled": False})
    )
    kept = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k.lower() not in PROXY_VARS}
    proxies = {k: CLOSED_PORT_PROXY for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")}
    return {**kept, **proxies, "HOME": str(home), "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true"}


def sam_validate(flags: list[str], template: Path, home: Path) -> tuple[int, str]:
    """`sam validate` offline: its exit code and output, after checking it made no network call."""
    command = [str(sam_cli()), "validate", *flags, "--debug", "-t", str(template)]
    proc = subprocess.run(command, capture_output=True, text=True, env=offline_sam_env(home), timeout=280)
    output = proc.stdout + proc.stderr
    assert not [s for s in NETWORK_TRIED if s in output], "sam tried the network:\n" + output[-20000:]
    return proc.returncode, output


needs_sam = pytest.mark.skipif(
    sam_cli() is None, reason="no SAM CLI: neither tools/sam/.venv (`make setup` syncs it) nor `sam` on PATH"
)


# `sam validate` runs the SAM translator (it rejects a misspelt event key); `--lint` runs only
# cfn-lint (SAM CLI's own pinned copy), which does not.
@needs_sam
@pytest.mark.parametrize("flags", [[], ["--lint"]], ids=["translator", "lint"])
def test_sam_validate_lint(flags: list[str], tmp_path: Path) -> None:
    code, output = sam_validate(flags, TEMPLATE, tmp_path)
    assert code == 0, output[-20000:]
    assert "is a valid SAM Template" in output


@needs_sam
def test_sam_validate_is_live_a_misspelt_event_key_is_rejected(template: dict[str, Any], tmp_path: Path) -> None:
    broken = json.loads(json.dumps(template))
    event = broken["Resources"]["IngestionFunction"]["Properties"]["Events"]["PostEvents"]["Properties"]
    event["Pth"] = event.pop("Path")
    (tmp_path / "template.json").write_text(json.dumps(broken))
    code, output = sam_validate([], tmp_path / "template.json", tmp_path / "home")
    assert code == 1, output[-20000:]
    assert "Event with id [PostEvents] is invalid. Property 'Path' is required." in output


# ---------------------------------------------------------------- ingestion: zip behind an HTTP API


def test_ingestion_is_a_zip_function_behind_an_http_api(resources: dict[str, Any]) -> None:
    props = functions(resources)["IngestionFunction"]
    assert props.get("PackageType", "Zip") == "Zip"
    assert props["Handler"] == "ingestion.handler.handler"
    assert re.fullmatch(r"python3\.1[1-9]", props["Runtime"])
    routes = set()
    for event in props["Events"].values():
        assert event["Type"] == "HttpApi"
        api = ref_name(event["Properties"]["ApiId"])
        assert resources[api]["Type"] == "AWS::Serverless::HttpApi"
        routes.add((event["Properties"]["Method"].upper(), event["Properties"]["Path"]))
    assert routes >= {
        ("POST", "/v1/events"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/docs"),
        ("GET", "/openapi.json"),
    }


def test_ingestion_publishes_to_the_stack_stream_and_bucket(resources: dict[str, Any]) -> None:
    env = env_of(functions(resources)["IngestionFunction"])
    assert env["PRISM_BUS"] == "kinesis"
    assert resources[ref_name(env["PRISM_KINESIS_STREAM"])]["Type"] == "AWS::Kinesis::Stream"
    assert env["PRISM_RAW_STORE"] == "s3"
    assert resources[ref_name(env["PRISM_RAW_BUCKET"])]["Type"] == "AWS::S3::Bucket"


def makefile_targets() -> set[str]:
    text = (ROOT / "functions" / "Makefile").read_text()
    return {t for line in text.splitlines() if not line.startswith("\t") and ":" in line
            for t in line.split(":", 1)[0].split() if t.startswith("build-")}


def test_zip_functions_are_built_by_the_makefile_with_their_own_requirements(resources: dict[str, Any]) -> None:
    zips = {n: p for n, p in functions(resources).items() if p.get("PackageType", "Zip") == "Zip"}
    assert set(zips) == set(ZIP_FUNCTIONS)
    targets = makefile_targets()
    for name, props in zips.items():
        assert resources[name]["Metadata"]["BuildMethod"] == "makefile", name
        assert props["CodeUri"] == "functions/" and f"build-{name}" in targets, name
        requirements = (ROOT / "functions" / "requirements" / f"{ZIP_FUNCTIONS[name]}.txt").read_text()
        lines = requirements.splitlines()
        pinned = {line.split("==")[0] for line in lines if "==" in line and not line.startswith(" ")}
        # Lambda speaks Mangum, not HTTP: no server; litellm is the chat image's; Redis is the local bus.
        assert not pinned & {"uvicorn", "uvloop", "watchfiles", "websockets", "httptools", "litellm",
                             "localstack-client", "redis", "hiredis"}, name
        assert {"mangum", "psycopg"} <= pinned or name.startswith(("Writer", "Migrations")), name
        assert ("authlib" in pinned) == (name == "IdentityFunction"), name
    assert not (ROOT / "functions" / "requirements.txt").exists(), "one requirements file per function now"


def test_zip_requirements_are_in_step_with_the_lock_file() -> None:
    uv = shutil.which("uv") or str(ROOT / "scripts" / "uv")
    command = [sys.executable, str(ROOT / "functions" / "lambda_build.py"), "--check", "--uv", uv]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr + " (run `python functions/lambda_build.py`)"


def test_the_zips_copy_only_their_own_packages() -> None:
    text = (ROOT / "functions" / "Makefile").read_text()
    copies = re.findall(r"\$\(call zip_function,(\w+),([^)]*)\)", text)
    assert copies and all("chat" not in packages.split() for _, packages in copies)
    assert all(packages.split()[0] == "prism" and len(packages.split()) == 2 for _, packages in copies)
    assert "--require-hashes" in text and "--only-binary=:all:" in text
    assert "--invalidation-mode unchecked-hash" in text  # bytecode that a read-only file system can use


# ---------------------------------------------------------------- writer: Kinesis, partial failures, DLQ


def writer_kinesis_event(resources: dict[str, Any]) -> dict[str, Any]:
    props = functions(resources)["WriterFunction"]
    events = [e for e in props["Events"].values() if e["Type"] == "Kinesis"]
    assert len(events) == 1
    event: dict[str, Any] = events[0]["Properties"]
    return event


def param_bound(template: dict[str, Any], value: Any) -> int:
    """A literal, or a parameter's MaxValue (the largest value a deploy can set)."""
    if isinstance(value, int):
        return value
    param = template["Parameters"][ref_name(value)]
    assert "MaxValue" in param, f"{ref_name(value)} needs a MaxValue"
    return int(param["MaxValue"])


def test_writer_reports_partial_batch_failures_and_bisects(resources: dict[str, Any]) -> None:
    props = functions(resources)["WriterFunction"]
    assert props["Handler"] == "writer.handler.handler"
    event = writer_kinesis_event(resources)
    assert resources[ref_name(event["Stream"])]["Type"] == "AWS::Kinesis::Stream"
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["BisectBatchOnFunctionError"] is True
    assert event["StartingPosition"] == "TRIM_HORIZON"


def test_writer_retries_a_failing_batch_until_close_to_the_stream_retention(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    """Only transient failures fail a batch (poison records are dead-lettered by the handler), so
    the mapping retries without a count limit, up to a record age a margin under the retention:
    an outage of hours loses nothing, and the SQS pointers still find their records."""
    event = writer_kinesis_event(resources)
    params = template["Parameters"]
    retries = params[ref_name(event["MaximumRetryAttempts"])]
    age = params[ref_name(event["MaximumRecordAgeInSeconds"])]
    assert int(retries["Default"]) == -1 and int(retries["MinValue"]) == -1
    retention_s = int(params["StreamRetentionHours"]["Default"]) * 3600
    assert retention_s - 4 * 3600 <= int(age["Default"]) < retention_s
    assert int(age["MaxValue"]) <= 604_800


def test_writer_may_put_dead_letters_in_the_raw_bucket_and_nothing_else(resources: dict[str, Any]) -> None:
    puts = [
        statement
        for owner, statement in policy_statements(resources)
        if owner == "WriterRole" and "s3:PutObject" in as_list(statement["Action"])
    ]
    assert len(puts) == 1 and as_list(puts[0]["Action"]) == ["s3:PutObject"]
    assert as_list(puts[0]["Resource"]) == [{"Fn::Sub": "${RawPayloadBucket.Arn}/dead-letters/*"}]
    env = env_of(functions(resources)["WriterFunction"])
    assert ref_name(env["PRISM_RAW_BUCKET"]) == "RawPayloadBucket"


def alarms(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def test_alarms_cover_dead_letters_lag_errors_throttles_and_5xx(resources: dict[str, Any]) -> None:
    found = {(p["Namespace"], p["MetricName"] if isinstance(p["MetricName"], str) else "custom",
              next((ref_name(d["Value"]) for d in p.get("Dimensions", []) if d["Name"] != "Region"), None))
             for p in alarms(resources).values()}
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "WriterDeadLetterQueue") in found
    assert ("Prism", "custom", None) in found  # the S3 dead letters, from the writer's log line
    assert ("AWS/Lambda", "IteratorAge", "WriterFunction") in found
    assert ("AWS/Lambda", "DestinationDeliveryFailures", "WriterFunction") in found
    for fn in functions(resources):
        assert ("AWS/Lambda", "Errors", fn) in found, fn
        assert ("AWS/Lambda", "Throttles", fn) in found, fn
    assert ("AWS/ApiGateway", "5xx", "IngestionApi") in found
    assert ("AWS/CloudFront", "5xxErrorRate", "Distribution") in found
    cloudfront = next(n for n, p in alarms(resources).items() if p["Namespace"] == "AWS/CloudFront")
    assert resources[cloudfront]["Condition"] == "InUsEast1"  # CloudFront's metrics are in us-east-1 only


def test_every_alarm_notifies_the_given_topic_or_the_one_the_stack_creates(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    assert resources["AlarmTopic"]["Type"] == "AWS::SNS::Topic"
    assert resources["AlarmTopic"]["Condition"] == "CreateAlarmTopic"
    assert template["Conditions"]["CreateAlarmTopic"] == {"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}
    for name, props in alarms(resources).items():
        assert props["AlarmActions"] == [
            {"Fn::If": ["HasAlarmTopic", {"Ref": "AlarmTopicArn"}, {"Ref": "AlarmTopic"}]}
        ], name
    metric = next(r["Properties"] for r in resources.values() if r["Type"] == "AWS::Logs::MetricFilter")
    assert ref_name(metric["LogGroupName"]) == "WriterLogGroup"
    assert "dead_letter" in metric["FilterPattern"]


def test_writer_dead_letters_go_to_an_sqs_queue(resources: dict[str, Any]) -> None:
    on_failure = writer_kinesis_event(resources)["DestinationConfig"]["OnFailure"]
    assert on_failure["Type"] == "SQS"  # SAM grants sqs:SendMessage only with this Type
    assert resources[ref_name(on_failure["Destination"])]["Type"] == "AWS::SQS::Queue"


def test_writer_is_not_behind_the_web_adapter(resources: dict[str, Any]) -> None:
    env = env_of(functions(resources)["WriterFunction"])
    assert not any(k.startswith("AWS_LWA_") for k in env)


def test_transformed_event_source_mapping_keeps_the_failure_handling(transformed: dict[str, Any]) -> None:
    mappings = of_type(transformed["Resources"], "AWS::Lambda::EventSourceMapping")
    assert len(mappings) == 1
    props = next(iter(mappings.values()))["Properties"]
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BisectBatchOnFunctionError"] is True
    assert "Destination" in props["DestinationConfig"]["OnFailure"]


# ---------------------------------------------------------------- chat: container image, streaming URL


def test_chat_stream_route_is_an_image_on_a_streaming_function_url(resources: dict[str, Any]) -> None:
    props = functions(resources)["ChatStreamFunction"]
    assert props["PackageType"] == "Image"
    assert props["FunctionUrlConfig"]["InvokeMode"] == "RESPONSE_STREAM"
    assert env_of(props)["AWS_LWA_INVOKE_MODE"] == "response_stream"


def test_chat_request_response_routes_run_through_mangum(resources: dict[str, Any]) -> None:
    props = functions(resources)["ChatApiFunction"]
    assert props["PackageType"] == "Image"
    assert props["FunctionUrlConfig"]["InvokeMode"] == "BUFFERED"
    assert not any(k.startswith("AWS_LWA_") for k in env_of(props))


def dockerfile_stage(text: str, target: str) -> str:
    pattern = rf"^FROM\s+\S+\s+AS\s+{re.escape(target)}\s*$(.*?)(?=^FROM\s|\Z)"
    match = re.search(pattern, text, re.M | re.S | re.I)
    assert match, f"no stage {target}"
    return match.group(1)


@pytest.mark.parametrize("name", ["ChatApiFunction", "ChatStreamFunction"])
def test_chat_images_build_existing_dockerfile_targets(resources: dict[str, Any], name: str) -> None:
    metadata = resources[name]["Metadata"]
    dockerfile = ROOT / metadata["DockerContext"] / metadata["Dockerfile"]
    assert dockerfile.exists(), dockerfile
    dockerfile_stage(dockerfile.read_text(), metadata["DockerBuildTarget"])


def test_chat_dockerfile_adds_the_web_adapter_and_installs_from_the_lock(resources: dict[str, Any]) -> None:
    metadata = resources["ChatStreamFunction"]["Metadata"]
    text = (ROOT / metadata["DockerContext"] / metadata["Dockerfile"]).read_text()
    pattern = r"^FROM\s+public\.ecr\.aws/awsguru/aws-lambda-adapter:0\.9\.\d+\s+AS\s+(\S+)"
    adapter = re.search(pattern, text, re.M)
    assert adapter, "pin the Lambda Web Adapter image to 0.9.x"
    stream = dockerfile_stage(text, metadata["DockerBuildTarget"])
    assert f"COPY --from={adapter.group(1)} /lambda-adapter /opt/extensions/lambda-adapter" in stream
    assert "AWS_LWA_INVOKE_MODE=response_stream" in stream
    assert "chat.app:app" in stream
    api = dockerfile_stage(text, resources["ChatApiFunction"]["Metadata"]["DockerBuildTarget"])
    assert '"chat.handler.handler"' in api and "lambda-adapter" not in api
    assert "--frozen" in text and "--require-hashes" in text


def test_chat_knows_where_ingestion_is(resources: dict[str, Any]) -> None:
    for name in ("ChatApiFunction", "ChatStreamFunction"):
        url = env_of(functions(resources)[name])["PRISM_INGEST_URL"]
        assert "${IngestionApi}" in url["Fn::Sub"]


# ---------------------------------------------------------------- data stores, secrets, network


def test_raw_payload_bucket_is_encrypted_private_and_expires_raw_payloads(resources: dict[str, Any]) -> None:
    assert set(of_type(resources, "AWS::S3::Bucket")) == {"RawPayloadBucket", "WebBucket"}
    props = resources["RawPayloadBucket"]["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    block = props["PublicAccessBlockConfiguration"]
    assert all(block[k] is True for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls",
                                          "RestrictPublicBuckets"))
    rules = props["LifecycleConfiguration"]["Rules"]
    assert any(r.get("ExpirationInDays") and r.get("Prefix") == "raw/" for r in rules)


def test_stream_and_queue_are_encrypted(resources: dict[str, Any]) -> None:
    stream = next(iter(of_type(resources, "AWS::Kinesis::Stream").values()))["Properties"]
    assert stream["StreamEncryption"]["EncryptionType"] == "KMS"
    queue = next(iter(of_type(resources, "AWS::SQS::Queue").values()))["Properties"]
    assert queue.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in queue


DATABASE_SECRET = {"DatabaseCluster", "DatabaseUrlSecretArn"}  # the stack's cluster's, or the one given
OWN_SECRETS = {  # function -> the secrets it reads (prism.secrets), and nothing else
    "IngestionFunction": DATABASE_SECRET | {"IngestApiKeySecret"},  # + the projects' keys, in the database
    "WriterFunction": DATABASE_SECRET,
    "WriterMaintenanceFunction": DATABASE_SECRET,
    "MigrationsFunction": DATABASE_SECRET,
    # the chat sends its events with a key of its own, registered in the chat project
    "ChatApiFunction": DATABASE_SECRET | {"CredsKeySecretArn", "ChatApiKeySecret"},
    "ChatStreamFunction": DATABASE_SECRET | {"CredsKeySecretArn", "ChatApiKeySecret"},
    "QueryFunction": DATABASE_SECRET,
    "IdentityFunction": DATABASE_SECRET | {"AdminSecret", "OidcClientSecretSecret"},
}


def test_no_secret_value_is_resolved_into_an_environment(template: dict[str, Any], resources: dict[str, Any]) -> None:
    assert "{{resolve:secretsmanager" not in json.dumps(template)  # not in functions, nor anywhere else
    for name, props in functions(resources).items():
        assert not set(SECRET_VARS) & set(env_of(props)), name  # values are read at run time, by ARN
    assert "PRISM_SECRETS_REVISION" not in json.dumps(template.get("Globals", {}))


def test_each_function_gets_the_arns_of_its_own_secrets(resources: dict[str, Any]) -> None:
    for name, props in functions(resources).items():
        arns = {var: value for var, value in env_of(props).items() if var.endswith("_SECRET_ARN")}
        got = set().union(*(ref_names(v) for v in arns.values())) if arns else set()
        assert got == OWN_SECRETS[name], name


def test_each_role_reads_only_the_secrets_of_its_functions(resources: dict[str, Any]) -> None:
    wanted: dict[str, set[str]] = {}
    for name, props in functions(resources).items():
        wanted.setdefault(ref_name(props["Role"]), set()).update(OWN_SECRETS[name])
    for role, secrets in wanted.items():
        assert role_grants(resources, role).get("secretsmanager:GetSecretValue") == secrets, role
    actions = [a for _, st in policy_statements(resources) for a in as_list(st["Action"])]
    assert not [a for a in actions if a.startswith("secretsmanager:") and a != "secretsmanager:GetSecretValue"]


STORED_SECRET_PARAMETERS = {"OidcClientSecret": "OidcClientSecretSecret"}  # parameter -> the secret storing it
SWITCHES = {"PasswordLogin"}  # on/off, not a password


def test_no_parameter_carries_a_secret_value(template: dict[str, Any]) -> None:
    """Secrets come as Secrets Manager ARNs; the one exception, the OIDC client's secret (which a
    provider hands out as a value), is NoEcho and only ever stored in a secret of the stack."""
    for name, param in template["Parameters"].items():
        if name in STORED_SECRET_PARAMETERS:
            assert param["NoEcho"] is True and param["Default"] == "", name
            continue
        if name in SWITCHES:
            assert set(param["AllowedValues"]) == {"on", "off"}, name
        elif re.search(r"password|secret|key", name, re.I) and not name.endswith(("Arn", "Revision")):
            pytest.fail(f"parameter {name} looks like a secret value: pass a Secrets Manager ARN")
        assert not param.get("NoEcho"), f"{name}: a NoEcho parameter is a secret passed in plain"


def refs_to(node: Any, name: str, path: str = "") -> list[str]:
    """Where in ``node`` a Ref to ``name`` (or a ${name} in a Sub) is."""
    found = []
    if isinstance(node, dict):
        if node.get("Ref") == name:
            found.append(path)
        sub = node.get("Fn::Sub")
        text = sub[0] if isinstance(sub, list) else sub
        if isinstance(text, str) and "${" + name + "}" in text:
            found.append(path)
        for key, value in node.items():
            found += refs_to(value, name, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += refs_to(value, name, f"{path}/{i}")
    return found


def test_the_oidc_client_secret_is_stored_in_a_secret_and_nowhere_else(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    for parameter, secret in STORED_SECRET_PARAMETERS.items():
        assert refs_to(template["Resources"], parameter) == [f"/{secret}/Properties/SecretString"], parameter
        assert not refs_to([template.get("Outputs", {}), template.get("Globals", {})], parameter)
        assert resources[secret]["Type"] == "AWS::SecretsManager::Secret"
        assert resources[secret]["Condition"] == "HasOidcClientSecret"  # created only when given
        assert template["Conditions"]["HasOidcClientSecret"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, ""]}]}


def test_database_functions_can_join_a_vpc(template: dict[str, Any], resources: dict[str, Any]) -> None:
    assert {"SubnetIds", "SecurityGroupIds"} <= set(template["Parameters"])
    for name in functions(resources):  # every function reaches the database
        assert functions(resources)[name]["VpcConfig"] == {"Fn::If": [
            "InVpc", {"SubnetIds": {"Ref": "SubnetIds"}, "SecurityGroupIds": {"Ref": "SecurityGroupIds"}},
            {"Ref": "AWS::NoValue"}]}, name


def test_outputs_give_the_one_url_and_what_make_deploy_needs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    wanted = {"WebUrl", "WebBucketName", "DistributionId", "WebConfigJson", "AdminSecretArn", "IngestionApiUrl"}
    assert wanted <= set(outputs)
    assert json.loads(outputs["WebConfigJson"]["Value"]) == {"chatApiUrl": "", "chatStreamUrl": None, "queryApiUrl": ""}
    with_domain, default = outputs["WebUrl"]["Value"]["Fn::If"][1:]
    assert with_domain == {"Fn::Sub": "https://${DomainName}"}
    assert default == {"Fn::Sub": "https://${Distribution.DomainName}"}


# ---------------------------------------------------------------- least-privilege IAM


def branches(item: Any) -> Iterator[Any]:
    """Both sides of an Fn::If, without AWS::NoValue."""
    if isinstance(item, dict) and set(item) == {"Fn::If"}:
        for side in item["Fn::If"][1:]:
            yield from branches(side)
    elif not (isinstance(item, dict) and item.get("Ref") == "AWS::NoValue"):
        yield item


def policy_statements(resources: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, res in resources.items():
        props = res.get("Properties", {})
        docs = []
        if res["Type"] == "AWS::IAM::Role":
            docs = [p["PolicyDocument"] for p in props.get("Policies", [])]
        elif res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            docs = [props["PolicyDocument"]]
        elif res["Type"] == "AWS::Serverless::Function":
            docs = [p for p in props.get("Policies", []) if isinstance(p, dict) and "Statement" in p]
        for doc in docs:
            for item in doc["Statement"]:
                for statement in branches(item):
                    yield name, statement


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_every_function_has_its_own_scoped_role(resources: dict[str, Any]) -> None:
    for name, props in functions(resources).items():
        role = ref_name(props["Role"])
        assert resources[role]["Type"] == "AWS::IAM::Role", name
        assert not resources[role]["Properties"].get("ManagedPolicyArns"), f"{role}: managed policies use '*'"


def test_no_wildcard_resource_except_where_aws_requires_it(resources: dict[str, Any]) -> None:
    statements = list(policy_statements(resources))
    assert statements
    for owner, statement in statements:
        if statement["Effect"] != "Allow":
            continue
        actions = as_list(statement["Action"])
        assert not any(a == "*" or a.endswith(":*") for a in actions), f"{owner}: {actions}"
        if "*" in as_list(statement["Resource"]):
            extra = set(actions) - WILDCARD_OK_ACTIONS
            assert not extra, f"{owner}: Resource '*' for {sorted(extra)}"


def test_transformed_template_adds_no_wildcard_policies(transformed: dict[str, Any]) -> None:
    # SAM adds roles (with AWS managed policies) only for functions without one: there must be none.
    roles = of_type(transformed["Resources"], "AWS::IAM::Role")
    assert set(roles) == set(of_type(load_template()["Resources"], "AWS::IAM::Role"))
    for name, role in roles.items():
        assert not role["Properties"].get("ManagedPolicyArns"), name


def test_no_public_function_url_anywhere(template: dict[str, Any], transformed: dict[str, Any]) -> None:
    assert "ChatUrlAuthType" not in template["Parameters"]
    assert '"NONE"' not in json.dumps(template) and '"NONE"' not in json.dumps(transformed)
    urls = of_type(transformed["Resources"], "AWS::Lambda::Url")
    assert {ref_name(u["Properties"]["TargetFunctionArn"]) for u in urls.values()} == set(URL_FUNCTIONS)
    assert all(u["Properties"]["AuthType"] == "AWS_IAM" for u in urls.values())
    for name, permission in of_type(transformed["Resources"], "AWS::Lambda::Permission").items():
        assert permission["Properties"]["Principal"] != "*", name


# ---------------------------------------------------------------- query: zip on a Function URL, read only


def test_query_is_a_read_only_zip_function_on_a_function_url(resources: dict[str, Any]) -> None:
    props = functions(resources)["QueryFunction"]
    assert props.get("PackageType", "Zip") == "Zip" and props["Handler"] == "query.handler.handler"
    assert props["FunctionUrlConfig"]["InvokeMode"] == "BUFFERED"
    env = env_of(props)
    assert env["PRISM_RAW_STORE"] == "s3" and resources[ref_name(env["PRISM_RAW_BUCKET"])]["Type"] == "AWS::S3::Bucket"
    role = resources[props["Role"]["Fn::GetAtt"][0]]
    actions = {
        action
        for policy in role["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        if isinstance(statement, dict) and "Action" in statement
        for action in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    }
    assert "s3:GetObject" in actions
    assert not {a for a in actions if a.startswith(("kinesis:", "sqs:")) or a in ("s3:PutObject", "s3:DeleteObject")}


# ---------------------------------------------------------------- one origin: CloudFront in front of everything


def distribution(resources: dict[str, Any]) -> dict[str, Any]:
    found = of_type(resources, "AWS::CloudFront::Distribution")
    assert len(found) == 1
    config: dict[str, Any] = next(iter(found.values()))["Properties"]["DistributionConfig"]
    return config


def origins_by_id(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["Id"]: o for o in distribution(resources)["Origins"]}


def url_function_of(origin: dict[str, Any]) -> str:
    """The function whose Function URL an origin's DomainName is cut from."""
    select = origin["DomainName"]["Fn::Select"]
    assert select[0] == 2 and select[1]["Fn::Split"][0] == "/"
    url = ref_name(select[1]["Fn::Split"][1])  # <Function>Url, SAM's AWS::Lambda::Url
    assert url.endswith("Url")
    return url.removesuffix("Url")


def test_the_ui_comes_from_a_private_bucket_through_origin_access_control(resources: dict[str, Any]) -> None:
    web = origins_by_id(resources)[distribution(resources)["DefaultCacheBehavior"]["TargetOriginId"]]
    bucket = ref_name(web["DomainName"])
    assert resources[bucket]["Type"] == "AWS::S3::Bucket"
    block = resources[bucket]["Properties"]["PublicAccessBlockConfiguration"]
    assert all(block[k] is True for k in block)
    assert web["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # OAC, not the legacy OAI
    oac = resources[ref_name(web["OriginAccessControlId"])]["Properties"]["OriginAccessControlConfig"]
    signing = (oac["OriginAccessControlOriginType"], oac["SigningBehavior"], oac["SigningProtocol"])
    assert signing == ("s3", "always", "sigv4")
    policies = [r["Properties"] for r in of_type(resources, "AWS::S3::BucketPolicy").values()
                if ref_name(r["Properties"]["Bucket"]) == bucket]
    allows = [st for p in policies for st in p["PolicyDocument"]["Statement"] if st["Effect"] == "Allow"]
    assert allows and all(st["Principal"] == {"Service": "cloudfront.amazonaws.com"} for st in allows)
    for statement in allows:  # this distribution only
        source = statement["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
        assert source.endswith(":distribution/${Distribution}")
    assert {a for st in allows for a in as_list(st["Action"])} <= {"s3:GetObject", "s3:ListBucket"}


def test_every_api_origin_is_an_aws_iam_function_url_signed_by_origin_access_control(
    resources: dict[str, Any],
) -> None:
    api = {oid: o for oid, o in origins_by_id(resources).items() if "CustomOriginConfig" in o}
    assert {url_function_of(o) for o in api.values()} == set(URL_FUNCTIONS)
    for oid, origin in api.items():
        oac = resources[ref_name(origin["OriginAccessControlId"])]["Properties"]["OriginAccessControlConfig"]
        assert oac["OriginAccessControlOriginType"] == "lambda" and oac["SigningBehavior"] == "always", oid
        assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only", oid
        assert functions(resources)[url_function_of(origin)]["FunctionUrlConfig"]["AuthType"] == "AWS_IAM", oid


def test_only_the_distribution_may_invoke_the_function_urls(resources: dict[str, Any]) -> None:
    permissions = [p["Properties"] for p in of_type(resources, "AWS::Lambda::Permission").values()]
    for name in URL_FUNCTIONS:
        mine = [p for p in permissions if ref_name(p["FunctionName"]) == name]
        assert {p["Action"] for p in mine} == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}, name
        for p in mine:
            assert p["Principal"] == "cloudfront.amazonaws.com", name
            assert p["SourceArn"]["Fn::Sub"] == (
                "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${Distribution}"
            ), name
            assert p.get("FunctionUrlAuthType", "AWS_IAM") == "AWS_IAM" and (
                p["Action"] != "lambda:InvokeFunction" or p["InvokedViaFunctionUrl"] is True
            ), name


def api_behaviours(resources: dict[str, Any]) -> list[dict[str, Any]]:
    api = {oid for oid, o in origins_by_id(resources).items() if "CustomOriginConfig" in o}
    return [b for b in distribution(resources)["CacheBehaviors"] if b["TargetOriginId"] in api]


def test_the_api_paths_are_the_local_route_table(resources: dict[str, Any]) -> None:
    from scripts.local_config import ROUTES

    origin_of = {oid: url_function_of(o) for oid, o in origins_by_id(resources).items() if "CustomOriginConfig" in o}
    owner = {"ChatApiFunction": "chat", "ChatStreamFunction": "chat", "QueryFunction": "query",
             "IdentityFunction": "identity"}
    routed: dict[str, set[str]] = {}
    for behaviour in api_behaviours(resources):
        if behaviour["PathPattern"] not in (*STREAM_ROUTES, OIDC_ROUTES):
            service = owner[origin_of[behaviour["TargetOriginId"]]]
            routed.setdefault(service, set()).add(behaviour["PathPattern"])
    assert routed == {service: {p + "*" for p in prefixes} for service, prefixes in ROUTES.items()}


def test_the_sse_routes_stream_and_come_first(resources: dict[str, Any]) -> None:
    behaviours = distribution(resources)["CacheBehaviors"]
    patterns = [b["PathPattern"] for b in behaviours]
    for pattern, method in STREAM_ROUTES.items():
        stream = behaviours[patterns.index(pattern)]
        assert patterns.index(pattern) < patterns.index("/api/conversations*")  # the first match wins
        origin = origins_by_id(resources)[stream["TargetOriginId"]]
        props = functions(resources)[url_function_of(origin)]
        assert props["FunctionUrlConfig"]["InvokeMode"] == "RESPONSE_STREAM", pattern
        assert env_of(props)["AWS_LWA_INVOKE_MODE"] == "response_stream", pattern
        assert method in stream["AllowedMethods"] and stream["CachePolicyId"] == CACHING_DISABLED, pattern


def test_the_streaming_patterns_name_routes_of_the_chat_api() -> None:
    from chat.app import app

    routes = {
        (method.upper(), re.sub(r"\{[^}]+\}", "*", path))
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    assert {(method, pattern) for pattern, method in STREAM_ROUTES.items()} <= routes


def test_api_behaviours_never_cache_and_forward_what_the_apis_read_but_host(resources: dict[str, Any]) -> None:
    behaviours = api_behaviours(resources)
    assert behaviours
    for behaviour in behaviours:
        assert behaviour["CachePolicyId"] == CACHING_DISABLED, behaviour["PathPattern"]
        assert set(behaviour["AllowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}
        assert behaviour["ViewerProtocolPolicy"] == "https-only"  # a redirect would turn a POST into a GET
        policy = resources[ref_name(behaviour["OriginRequestPolicyId"])]["Properties"]["OriginRequestPolicyConfig"]
        assert policy["CookiesConfig"]["CookieBehavior"] == "all"
        assert policy["QueryStringsConfig"]["QueryStringBehavior"] == "all"
        headers = {h.lower() for h in policy["HeadersConfig"]["Headers"]}
        assert len(headers) == len(policy["HeadersConfig"]["Headers"]) <= 10  # CloudFront's quota per policy
        # never Host (nor all viewer headers, which include it)
        assert policy["HeadersConfig"]["HeaderBehavior"] == "whitelist" and "host" not in headers
        assert {"x-amz-content-sha256", "content-type", "origin", "user-agent", "accept",
                VIEWER_ADDRESS.lower()} <= headers, behaviour["PathPattern"]


def forwarded_headers(resources: dict[str, Any], pattern: str) -> set[str]:
    behaviour = next(b for b in api_behaviours(resources) if b["PathPattern"] == pattern)
    policy = resources[ref_name(behaviour["OriginRequestPolicyId"])]["Properties"]["OriginRequestPolicyConfig"]
    return {h.lower() for h in policy["HeadersConfig"]["Headers"]}


def test_each_api_gets_the_headers_it_reads_within_the_quota(resources: dict[str, Any]) -> None:
    """Three policies, each under CloudFront's 10 headers: chat (SSE, sessions only), the read APIs
    (query and identity: the read token in X-Prism-Token), the OIDC redirects (the viewer's host)."""
    from scripts.local_config import ROUTES

    for prefix in ROUTES["chat"]:
        assert {"last-event-id", "x-csrf-token"} <= forwarded_headers(resources, prefix + "*"), prefix
    for pattern in STREAM_ROUTES:
        assert "last-event-id" in forwarded_headers(resources, pattern), pattern
    for prefix in (*ROUTES["query"], *ROUTES["identity"]):
        # Authorization carries origin access control's signature: a read token travels in X-Prism-Token.
        assert {"x-prism-token", "x-csrf-token"} <= forwarded_headers(resources, prefix + "*"), prefix
    assert "x-forwarded-host" in forwarded_headers(resources, OIDC_ROUTES)
    everywhere_else = {p["PathPattern"] for p in api_behaviours(resources)} - {OIDC_ROUTES}
    assert not any("x-forwarded-host" in forwarded_headers(resources, p) for p in everywhere_else)


def test_the_oidc_redirects_have_their_own_behaviour_before_the_identity_prefix(resources: dict[str, Any]) -> None:
    behaviours = distribution(resources)["CacheBehaviors"]
    patterns = [b["PathPattern"] for b in behaviours]
    assert patterns.index(OIDC_ROUTES) < patterns.index("/api/auth*")  # the first match wins
    oidc = behaviours[patterns.index(OIDC_ROUTES)]
    assert url_function_of(origins_by_id(resources)[oidc["TargetOriginId"]]) == "IdentityFunction"
    from identity.routes.oidc import router

    paths = {getattr(route, "path", "") for route in router.routes}
    assert {"/api/auth/oidc/login", "/api/auth/oidc/callback"} <= paths
    assert all(p.startswith(OIDC_ROUTES.removesuffix("*")) for p in paths if "/oidc/" in p)


def test_the_functions_behind_the_distribution_read_the_viewer_address_it_forwards(resources: dict[str, Any]) -> None:
    for name in URL_FUNCTIONS:
        assert env_of(functions(resources)[name])["PRISM_VIEWER_ADDRESS_HEADER"] == VIEWER_ADDRESS, name
    for behaviour in api_behaviours(resources):
        assert VIEWER_ADDRESS.lower() in forwarded_headers(resources, behaviour["PathPattern"])
    # the others are reached directly (ingestion's HTTP API gives the caller's address itself)
    for name, props in functions(resources).items():
        if name not in URL_FUNCTIONS:
            assert "PRISM_VIEWER_ADDRESS_HEADER" not in env_of(props), name


def test_same_origin_calls_drop_their_origin_header_at_the_edge(resources: dict[str, Any]) -> None:
    for behaviour in api_behaviours(resources):
        (association,) = behaviour["FunctionAssociations"]
        assert association["EventType"] == "viewer-request"
        code = resources[association["FunctionARN"]["Fn::GetAtt"][0]]["Properties"]["FunctionCode"]
        assert "delete request.headers.origin" in code and "'https://' + host.value" in code


def test_custom_domain_and_web_acl_are_optional(template: dict[str, Any], resources: dict[str, Any]) -> None:
    config = distribution(resources)
    assert config["Aliases"]["Fn::If"][0] == "HasDomain"
    assert config["ViewerCertificate"]["Fn::If"][0] == "HasCertificate"
    assert "DomainNeedsCertificate" in template["Rules"]
    acl = resources["WebAcl"]
    assert acl["Condition"] == "CreateWebAcl" and acl["Properties"]["Scope"] == "CLOUDFRONT"
    rule = acl["Properties"]["Rules"][0]["Statement"]["RateBasedStatement"]
    assert ref_name(rule["Limit"]) == "RateLimitPer5Minutes" and rule["AggregateKeyType"] == "IP"
    # CLOUDFRONT-scoped ACLs exist only in us-east-1: created there, else passed in as WebAclArn.
    assert {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]} in template["Conditions"]["CreateWebAcl"]["Fn::And"]
    assert config["WebACLId"]["Fn::If"][2]["Fn::If"][1] == {"Ref": "WebAclArn"}


def test_the_chat_image_can_come_from_ci(template: dict[str, Any], resources: dict[str, Any]) -> None:
    assert template["Parameters"]["ImageUri"]["Default"] == ""
    for name, suffix in (("ChatApiFunction", "api"), ("ChatStreamFunction", "stream")):
        condition, given, built = functions(resources)[name]["ImageUri"]["Fn::If"]
        assert condition == "HasImageUri" and given == {"Fn::Sub": f"${{ImageUri}}-{suffix}"}
        assert built == {"Ref": "AWS::NoValue"} and resources[name]["Metadata"]["DockerBuildTarget"] == f"chat-{suffix}"


# ---------------------------------------------------------------- migrations on every deploy


def test_the_migrations_custom_resource_runs_the_migration_function(resources: dict[str, Any]) -> None:
    custom = of_type(resources, "AWS::CloudFormation::CustomResource")
    assert set(custom) == {"Migrations"}
    props = custom["Migrations"]["Properties"]
    assert props["ServiceToken"] == {"Fn::GetAtt": ["MigrationsFunction", "Arn"]}
    function = functions(resources)["MigrationsFunction"]
    assert function["Handler"] == "writer.migrations_resource.handler"
    assert function["AutoPublishAlias"]  # a new version per code change ...
    assert props["CodeVersion"] == {"Ref": "MigrationsFunction.Version"}  # ... re-runs the migrations
    assert ref_name(props["SecretsRevision"]) == "SecretsRevision"
    assert props["ServiceTimeout"] > function["Timeout"]
    assert ref_names(env_of(function)["PRISM_DATABASE_SECRET_ARN"]) == DATABASE_SECRET
    assert ref_names(props["DatabaseSecretArn"]) == DATABASE_SECRET  # a new database secret re-runs them
    import writer.migrations_resource as module

    assert callable(module.handler)
    for name in ("WriterFunction", "QueryFunction", "IdentityFunction", "ChatApiFunction", "ChatStreamFunction",
                 "IngestionFunction"):
        assert resources[name]["DependsOn"] == "Migrations", name  # new code only on the new schema


def test_the_transformed_custom_resource_points_at_a_published_version(transformed: dict[str, Any]) -> None:
    res = transformed["Resources"]
    version = res["Migrations"]["Properties"]["CodeVersion"]
    assert res[ref_name(version)]["Type"] == "AWS::Lambda::Version"


# ---------------------------------------------------------------- each role's actions, per resource


def role_grants(resources: dict[str, Any], role: str) -> dict[str, set[str]]:
    """{action: the resources (logical ids, or '*') it is allowed on} for one role."""
    grants: dict[str, set[str]] = {}
    for owner, statement in policy_statements(resources):
        if owner != role or statement["Effect"] != "Allow":
            continue
        targets = set()
        for target in as_list(statement["Resource"]):
            if target == "*":
                targets.add("*")
            elif isinstance(target, dict) and "Fn::Sub" in target:
                targets.add(re.findall(r"\$\{(\w+)", target["Fn::Sub"])[0])
            else:
                targets.update(ref_names(target))
        for action in as_list(statement["Action"]):
            grants.setdefault(action, set()).update(targets)
    return grants


ENI = {action: {"*"} for action in WILDCARD_OK_ACTIONS}
LOGS = ("logs:CreateLogStream", "logs:PutLogEvents")
SECRET = "secretsmanager:GetSecretValue"
READ_STREAM = ("kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
               "kinesis:GetShardIterator", "kinesis:ListShards")


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("MaintenanceRole", {  # + writer.replay: the dead letters and the raw payloads they point to
            **{a: {"MaintenanceLogGroup"} for a in LOGS}, **ENI, SECRET: DATABASE_SECRET,
            "s3:GetObject": {"RawPayloadBucket"}, "s3:DeleteObject": {"RawPayloadBucket"},
            "s3:ListBucket": {"RawPayloadBucket"},
        }),
        ("IdentityRole", {
            **{a: {"IdentityLogGroup"} for a in LOGS}, **ENI,
            SECRET: DATABASE_SECRET | {"AdminSecret", "OidcClientSecretSecret"},
        }),
        ("ChatRole", {
            **{a: {"ChatLogGroup"} for a in LOGS}, **ENI,
            SECRET: DATABASE_SECRET | {"CredsKeySecretArn", "ChatApiKeySecret"},
        }),
        ("QueryRole", {
            **{a: {"QueryLogGroup"} for a in LOGS}, "s3:GetObject": {"RawPayloadBucket"}, **ENI,
            SECRET: DATABASE_SECRET,
        }),
        ("WriterRole", {
            **{a: {"WriterLogGroup"} for a in LOGS}, **ENI, SECRET: DATABASE_SECRET,
            **{a: {"InferenceStream"} for a in READ_STREAM},
            "sqs:SendMessage": {"WriterDeadLetterQueue"},
            "s3:GetObject": {"RawPayloadBucket"}, "s3:ListBucket": {"RawPayloadBucket"},
            "s3:PutObject": {"RawPayloadBucket"},
        }),
        ("IngestionRole", {
            **{a: {"IngestionLogGroup"} for a in LOGS}, **ENI, SECRET: DATABASE_SECRET | {"IngestApiKeySecret"},
            **{a: {"InferenceStream"} for a in ("kinesis:PutRecord", "kinesis:PutRecords",
                                                 "kinesis:DescribeStreamSummary")},
            "s3:PutObject": {"RawPayloadBucket"}, "s3:ListBucket": {"RawPayloadBucket"},
        }),
    ],
)
def test_each_role_may_do_exactly_its_job(resources: dict[str, Any], role: str, expected: dict[str, set[str]]) -> None:
    assert role_grants(resources, role) == expected


def test_maintenance_and_migrations_share_a_role_without_stream_or_queue_rights(resources: dict[str, Any]) -> None:
    for name in ("WriterMaintenanceFunction", "MigrationsFunction"):
        assert ref_name(functions(resources)[name]["Role"]) == "MaintenanceRole", name
    assert ref_name(functions(resources)["WriterFunction"]["Role"]) == "WriterRole"
    grants = role_grants(resources, "MaintenanceRole")
    assert not any(a.startswith(("kinesis:", "sqs:")) for a in grants)
    deletes = [st for owner, st in policy_statements(resources)
               if owner == "MaintenanceRole" and "s3:DeleteObject" in as_list(st["Action"])]
    assert [as_list(s["Resource"]) for s in deletes] == [[{"Fn::Sub": "${RawPayloadBucket.Arn}/dead-letters/*"}]]


# ---------------------------------------------------------------- identity and the first admin


def test_identity_is_a_zip_function_on_an_aws_iam_url_with_the_first_admin_from_a_secret(
    resources: dict[str, Any],
) -> None:
    props = functions(resources)["IdentityFunction"]
    assert props["Handler"] == "identity.handler.handler" and props.get("PackageType", "Zip") == "Zip"
    assert props["FunctionUrlConfig"] == {"AuthType": "AWS_IAM", "InvokeMode": "BUFFERED"}
    env = env_of(props)
    assert env["PRISM_ADMIN_SECRET_ARN"] == {"Ref": "AdminSecret"}  # read at run time (prism.secrets)
    assert "PRISM_ADMIN_PASSWORD" not in env and "PRISM_ADMIN_EMAIL" not in env
    generated = resources["AdminSecret"]["Properties"]["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "password" and generated["PasswordLength"] >= 20
    assert "${AdminEmail}" in generated["SecretStringTemplate"]["Fn::Sub"]


# ---------------------------------------------------------------- what goes into an image's build context


@pytest.mark.parametrize(
    "path", [".dockerignore", "functions/Dockerfile.dockerignore", "functions/Dockerfile.chat.dockerignore"]
)
def test_the_build_context_leaves_out_secrets_and_local_state(path: str) -> None:
    # SAM's classic builder reads only the context's .dockerignore; BuildKit prefers the per-Dockerfile one.
    lines = [ln.strip() for ln in (ROOT / path).read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "*", "exclude everything, then let in what the images need"
    allowed = {ln[1:] for ln in lines if ln.startswith("!")}
    assert allowed == {"pyproject.toml", "uv.lock", "functions/", "sdk/"}
    assert {"**/.env", "**/.env.*", "**/__pycache__", "functions/requirements/", "functions/Makefile"} <= set(lines)


# ---------------------------------------------------------------- the database path


DATABASE_RESOURCES = ("DatabaseCluster", "DatabaseInstance", "DatabaseProxy", "DatabaseProxyTargetGroup",
                      "DatabaseProxyRole", "DatabaseSubnetGroup", "DatabaseSecurityGroup", "DatabaseProxySecurityGroup")


def test_the_stack_can_create_an_aurora_serverless_cluster_behind_rds_proxy(resources: dict[str, Any]) -> None:
    for name in DATABASE_RESOURCES:
        assert resources[name].get("Condition") == "CreateDatabase", name
    cluster = resources["DatabaseCluster"]
    props = cluster["Properties"]
    assert props["Engine"] == "aurora-postgresql" and props["ManageMasterUserPassword"] is True
    assert "MasterUserPassword" not in props and props["StorageEncrypted"] is True
    assert props["ServerlessV2ScalingConfiguration"]["MinCapacity"] == 0.5
    assert cluster["DeletionPolicy"] == "Snapshot"
    assert resources["DatabaseInstance"]["Properties"]["DBInstanceClass"] == "db.serverless"
    proxy = resources["DatabaseProxy"]["Properties"]
    assert proxy["EngineFamily"] == "POSTGRESQL" and proxy["RequireTLS"] is True
    assert [ref_name(a["SecretArn"]) for a in proxy["Auth"]] == ["DatabaseCluster"]  # the RDS-managed secret
    assert proxy["VpcSubnetIds"] == {"Ref": "SubnetIds"}
    assert role_grants(resources, "DatabaseProxyRole") == {SECRET: {"DatabaseCluster"}}
    # only the proxy reaches the cluster, only the functions' security group the proxy
    ingress = resources["DatabaseSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert [ref_name(r["SourceSecurityGroupId"]) for r in ingress] == ["DatabaseProxySecurityGroup"]
    ingress = resources["DatabaseProxySecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert [r["SourceSecurityGroupId"] for r in ingress] == [{"Fn::Select": [0, {"Ref": "SecurityGroupIds"}]}]


def test_database_functions_connect_through_the_proxy_when_the_stack_makes_the_database(
    resources: dict[str, Any],
) -> None:
    for name, props in functions(resources).items():
        if OWN_SECRETS[name] & DATABASE_SECRET:
            host = env_of(props)["PRISM_DATABASE_HOST"]
            assert host == {"Fn::If": ["CreateDatabase", {"Fn::GetAtt": ["DatabaseProxy", "Endpoint"]},
                                       {"Ref": "AWS::NoValue"}]}, name


def test_subnets_need_security_groups_and_a_created_database_needs_a_vpc(template: dict[str, Any]) -> None:
    rules = template["Rules"]
    assert "SecurityGroupIds" in json.dumps(rules["SubnetsNeedSecurityGroups"]["Assertions"])
    created = json.dumps(rules["CreatedDatabaseNeedsAVpc"]["Assertions"])
    assert "SubnetIds" in created and "VpcId" in created
    assert "DatabaseUrlSecretArn" in json.dumps(rules["OwnDatabaseNeedsItsSecret"]["Assertions"])


def test_a_vpc_gets_an_s3_gateway_and_a_secrets_manager_endpoint(resources: dict[str, Any]) -> None:
    s3 = resources["S3GatewayEndpoint"]
    assert s3["Condition"] == "CreateS3Endpoint" and s3["Properties"]["VpcEndpointType"] == "Gateway"
    assert s3["Properties"]["ServiceName"] == {"Fn::Sub": "com.amazonaws.${AWS::Region}.s3"}
    assert s3["Properties"]["RouteTableIds"] == {"Ref": "RouteTableIds"}
    statements = s3["Properties"]["PolicyDocument"]["Statement"]
    assert {ref_name(r) if "Fn::Sub" not in r else r["Fn::Sub"] for st in statements for r in st["Resource"]} == {
        "RawPayloadBucket", "${RawPayloadBucket.Arn}/*"}
    sm = resources["SecretsManagerEndpoint"]
    assert sm["Condition"] == "HasVpcId" and sm["Properties"]["PrivateDnsEnabled"] is True


def test_chat_and_query_have_reserved_concurrency(template: dict[str, Any], resources: dict[str, Any]) -> None:
    for name, parameter in (("ChatApiFunction", "ChatReservedConcurrency"),
                            ("ChatStreamFunction", "ChatReservedConcurrency"),
                            ("QueryFunction", "QueryReservedConcurrency")):
        value = functions(resources)[name]["ReservedConcurrentExecutions"]
        assert value["Fn::If"][1] == {"Ref": parameter}, name
        assert template["Parameters"][parameter]["Default"] > 0


def test_deploy_doc_gives_the_connection_numbers_and_the_nat_requirement() -> None:
    doc = (ROOT / "docs" / "deploy.md").read_text()
    assert "## Database connections" in doc
    assert "NAT" in doc and "RDS Proxy" in doc


# ---------------------------------------------------------------- ingestion: the projects' keys in the database


def test_ingestion_reads_the_projects_keys_from_the_database(resources: dict[str, Any]) -> None:
    """UI-made keys (prism_ik_...) are looked up in api_keys/projects (prism.adapters.postgres_keys):
    ingestion gets the database like the other database functions, after the migrations."""
    props = functions(resources)["IngestionFunction"]
    env = env_of(props)
    query_env = env_of(functions(resources)["QueryFunction"])
    for var in ("PRISM_DATABASE_SECRET_ARN", "PRISM_DATABASE_HOST"):
        assert env[var] == query_env[var], var
    assert ref_names(env["PRISM_DATABASE_SECRET_ARN"]) == DATABASE_SECRET
    assert props["VpcConfig"] == functions(resources)["QueryFunction"]["VpcConfig"]
    assert resources["IngestionFunction"]["DependsOn"] == "Migrations"
    grants = role_grants(resources, "IngestionRole")
    assert grants[SECRET] == DATABASE_SECRET | {"IngestApiKeySecret"}
    eni = [st for owner, st in policy_statements(resources) if owner == "IngestionRole" and st["Resource"] == "*"]
    assert {a for st in eni for a in as_list(st["Action"])} == WILDCARD_OK_ACTIONS
    statements = resources["IngestionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    (conditional,) = [st for st in statements if "Fn::If" in st]
    assert conditional["Fn::If"][0] == "InVpc" and conditional["Fn::If"][2] == {"Ref": "AWS::NoValue"}


def test_ingestion_in_a_vpc_reaches_kinesis_s3_and_secrets_through_endpoints(resources: dict[str, Any]) -> None:
    kinesis = resources["KinesisStreamsEndpoint"]
    props = kinesis["Properties"]
    assert kinesis["Condition"] == "HasVpcId" and props["VpcEndpointType"] == "Interface"
    assert props["ServiceName"] == {"Fn::Sub": "com.amazonaws.${AWS::Region}.kinesis-streams"}
    assert props["PrivateDnsEnabled"] is True and props["SubnetIds"] == {"Ref": "SubnetIds"}
    (statement,) = props["PolicyDocument"]["Statement"]
    assert ref_name(statement["Resource"]) == "InferenceStream"  # this stack's stream only
    publish = {a for a, targets in role_grants(resources, "IngestionRole").items() if "InferenceStream" in targets}
    assert set(statement["Action"]) == publish  # everything ingestion does with it, nothing more
    for endpoint in ("KinesisStreamsEndpoint", "SecretsManagerEndpoint"):
        (group,) = resources[endpoint]["Properties"]["SecurityGroupIds"]
        ingress = resources[ref_name(group)]["Properties"]["SecurityGroupIngress"]
        assert [(r["FromPort"], r["SourceSecurityGroupId"]) for r in ingress] == [
            (443, {"Fn::Select": [0, {"Ref": "SecurityGroupIds"}]})], endpoint
    # the S3 gateway endpoint lets ingestion put raw payloads
    (s3,) = resources["S3GatewayEndpoint"]["Properties"]["PolicyDocument"]["Statement"]
    assert "s3:PutObject" in s3["Action"] and {"Fn::Sub": "${RawPayloadBucket.Arn}/*"} in s3["Resource"]


# ---------------------------------------------------------------- single sign-on (OpenID Connect)


OIDC_ENV = {  # the identity function's setting -> the parameter it comes from
    "PRISM_OIDC_ISSUER": "OidcIssuer",
    "PRISM_OIDC_CLIENT_ID": "OidcClientId",
    "PRISM_OIDC_ROLE_CLAIM": "OidcRoleClaim",
    "PRISM_OIDC_ROLE_MAP": "OidcRoleMap",
    "PRISM_OIDC_DEFAULT_ROLE": "OidcDefaultRole",
    "PRISM_PASSWORD_LOGIN": "PasswordLogin",
}


def test_oidc_settings_are_parameters_of_the_identity_function(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    from prism.config import Settings

    params = template["Parameters"]
    env = env_of(functions(resources)["IdentityFunction"])
    for var, parameter in OIDC_ENV.items():
        assert env[var] == {"Ref": parameter}, var
        field = Settings.model_fields[var.removeprefix("PRISM_").lower()]
        default = params[parameter]["Default"]
        assert str(field.default) == default, var  # off by default, like the code
    assert params["OidcIssuer"]["Default"] == "" and params["PasswordLogin"]["AllowedValues"] == ["on", "off"]
    assert params["OidcDefaultRole"]["AllowedValues"] == ["admin", "member", "viewer"]
    # only the secret's ARN, and only when there is one
    assert env["PRISM_OIDC_CLIENT_SECRET_ARN"] == {
        "Fn::If": ["HasOidcClientSecret", {"Ref": "OidcClientSecretSecret"}, {"Ref": "AWS::NoValue"}]}
    assert "oidc_client_secret_arn" in Settings.model_fields
    for name, props in functions(resources).items():
        assert name == "IdentityFunction" or not any(v.startswith("PRISM_OIDC") for v in env_of(props)), name


def test_oidc_role_map_parameter_accepts_what_the_setting_accepts(template: dict[str, Any]) -> None:
    from prism.config import Settings

    pattern = template["Parameters"]["OidcRoleMap"]["AllowedPattern"]
    for value in ("", "prism-admins=admin", "a=admin,b=member,c=viewer"):
        assert re.fullmatch(pattern, value), value
        Settings(oidc_role_map=value)
    for value in ("admins", "a=root", "a=admin,", "=admin"):
        assert not re.fullmatch(pattern, value), value


def test_sso_needs_its_client_and_password_login_off_needs_sso(template: dict[str, Any]) -> None:
    rules = template["Rules"]
    client = json.dumps(rules["OidcNeedsItsClient"])
    assert '"OidcIssuer"' in client and '"OidcClientId"' in client and '"OidcClientSecret"' in client
    off = rules["PasswordLoginOffNeedsOidc"]
    assert off["RuleCondition"] == {"Fn::Equals": [{"Ref": "PasswordLogin"}, "off"]}
    assert '"OidcIssuer"' in json.dumps(off["Assertions"])


# ---------------------------------------------------------------- the CloudFront Functions, run with node


NODE = shutil.which("node")
PAGE_FILE = re.compile(r"^page\.(tsx|ts|jsx|js|mdx)$")


def run_cloudfront_function(code: str, events: list[dict[str, Any]]) -> list[Any]:
    """Each event through ``handler`` of ``code`` (cloudfront-js-2.0 code is plain JavaScript)."""
    assert NODE, "node is needed to run the CloudFront Functions"
    harness = (
        "const fs = require('fs');\n"
        "const handler = new Function(fs.readFileSync(process.argv[1], 'utf8') + '\\nreturn handler;')();\n"
        "const events = JSON.parse(fs.readFileSync(0, 'utf8'));\n"
        "Promise.all(events.map((e) => handler(e))).then((r) => process.stdout.write(JSON.stringify(r)));\n"
    )
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "function.js"
        source.write_text(code)
        proc = subprocess.run([NODE, "-e", harness, str(source)], input=json.dumps(events),
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result: list[Any] = json.loads(proc.stdout)
    return result


def viewer_request(uri: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "version": "1.0",
        "context": {"eventType": "viewer-request"},
        "viewer": {"ip": "198.51.100.11"},
        "request": {"method": "GET", "uri": uri, "querystring": {}, "cookies": {},
                    "headers": {k: {"value": v} for k, v in (headers or {"host": "prism.example.com"}).items()}},
    }


def viewer_response(uri: str, status: int = 200) -> dict[str, Any]:
    event = viewer_request(uri)
    event["context"]["eventType"] = "viewer-response"
    event["response"] = {"statusCode": status, "statusDescription": "OK", "headers": {}, "cookies": {}}
    return event


def function_code(resources: dict[str, Any], name: str) -> str:
    code: str = resources[name]["Properties"]["FunctionCode"]
    return code


def ui_pages() -> set[str]:
    """The static export's pages: web/src/app/**/page.tsx as /dir/ URLs (route groups left out)."""
    app = ROOT / "web" / "src" / "app"
    pages = set()
    for path in app.rglob("*"):
        if PAGE_FILE.match(path.name):
            parts = [p for p in path.parent.relative_to(app).parts if not (p.startswith("(") and p.endswith(")"))]
            assert not any(p.startswith(("[", "_", "@")) for p in parts), f"{path}: not a static page"
            pages.add("/" + "".join(p + "/" for p in parts))
    return pages


def test_the_web_pages_function_lists_exactly_the_ui_pages(resources: dict[str, Any]) -> None:
    code = function_code(resources, "WebPagesRequestFunction")
    listed = re.search(r"var PAGES = \[(.*?)\];", code, re.S)
    assert listed
    pages = re.findall(r"'([^']*)'", listed.group(1))
    assert len(pages) == len(set(pages))
    assert set(pages) == ui_pages() and "/" in pages and "/settings/" in pages


def test_the_web_pages_functions_run_on_the_default_behaviour_with_one_code(resources: dict[str, Any]) -> None:
    associations = distribution(resources)["DefaultCacheBehavior"]["FunctionAssociations"]
    by_event = {a["EventType"]: a["FunctionARN"]["Fn::GetAtt"][0] for a in associations}
    assert by_event == {"viewer-request": "WebPagesRequestFunction", "viewer-response": "WebPagesResponseFunction"}
    assert function_code(resources, "WebPagesRequestFunction") == function_code(resources, "WebPagesResponseFunction")
    for name in by_event.values():
        assert resources[name]["Properties"]["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
        assert len(function_code(resources, name).encode()) < 10 * 1024  # CloudFront Functions' size quota
    assert "CustomErrorResponses" not in distribution(resources)  # distribution-wide: they would hit the APIs too


def test_the_web_pages_function_maps_pages_keeps_files_and_sends_the_rest_to_the_404_page(
    resources: dict[str, Any],
) -> None:
    code = function_code(resources, "WebPagesRequestFunction")
    uris = ["/", "/settings/", "/settings", "/admin/users", "/dashboards/view/", "/_next/static/chunks/app.js",
            "/favicon.ico", "/settings/index.txt", "/404.html", "/nope", "/nope/", "/admin/", "/settings/x"]
    results = run_cloudfront_function(code, [viewer_request(u) for u in uris])
    got = {uri: r["uri"] for uri, r in zip(uris, results, strict=True)}
    assert got == {
        "/": "/index.html",
        "/settings/": "/settings/index.html",
        "/settings": "/settings/index.html",  # without its trailing slash
        "/admin/users": "/admin/users/index.html",
        "/dashboards/view/": "/dashboards/view/index.html",
        "/_next/static/chunks/app.js": "/_next/static/chunks/app.js",  # assets as they are
        "/favicon.ico": "/favicon.ico",
        "/settings/index.txt": "/settings/index.txt",
        "/404.html": "/404.html",
        "/nope": "/404.html",  # no such page: the UI's 404 page
        "/nope/": "/404.html",
        "/admin/": "/404.html",
        "/settings/x": "/404.html",
    }
    assert all(r["headers"] == {"host": {"value": "prism.example.com"}} for r in results)  # nothing else touched


def test_the_web_pages_function_answers_404_for_the_404_page_and_leaves_the_rest(resources: dict[str, Any]) -> None:
    code = function_code(resources, "WebPagesResponseFunction")
    cases = [  # (uri the viewer-response event carries: as asked or as rewritten, origin status, status sent)
        ("/404.html", 200, 404), ("/nope", 200, 404), ("/nope/", 200, 404),
        ("/settings/index.html", 200, 200), ("/settings/", 200, 200), ("/settings", 200, 200), ("/", 200, 200),
        ("/_next/static/chunks/app.js", 200, 200), ("/404.html", 304, 304),
    ]
    results = run_cloudfront_function(code, [viewer_response(uri, status) for uri, status, _ in cases])
    assert [r["statusCode"] for r in results] == [sent for _, _, sent in cases]
    assert [r.get("statusDescription") for r in results][:3] == ["Not Found"] * 3


def test_the_web_pages_function_leaves_api_paths_to_a_json_404(resources: dict[str, Any]) -> None:
    """An /api path reaches the default behaviour only when no API behaviour took it: never the UI's
    page, but the APIs' own JSON error."""
    code = function_code(resources, "WebPagesRequestFunction")
    api, bare, lookalike = run_cloudfront_function(code, [viewer_request(u) for u in ("/api/nope", "/api", "/apis")])
    for answer in (api, bare):
        assert answer["statusCode"] == 404 and "uri" not in answer
        assert answer["headers"]["content-type"] == {"value": "application/json"}
        assert json.loads(answer["body"]["data"])["error"]["code"] == "not_found"
    assert lookalike["uri"] == "/404.html"  # /apis is no API path
    (kept,) = run_cloudfront_function(function_code(resources, "WebPagesResponseFunction"),
                                      [viewer_response("/api/nope", 200)])
    assert kept["statusCode"] == 200


def test_the_api_edge_function_drops_a_same_origin_origin_and_forwards_the_viewers_host(
    resources: dict[str, Any],
) -> None:
    (association,) = {a["FunctionARN"]["Fn::GetAtt"][0] for b in api_behaviours(resources)
                      for a in b["FunctionAssociations"]}
    code = function_code(resources, association)
    events = [
        viewer_request("/api/auth/oidc/login", {"host": "prism.example.com", "origin": "https://Prism.example.com"}),
        viewer_request("/api/logs", {"host": "prism.example.com", "origin": "https://evil.example"}),
        viewer_request("/api/auth/oidc/callback", {"host": "d111.cloudfront.net", "x-forwarded-host": "evil.example"}),
    ]
    same, other, spoofed = run_cloudfront_function(code, events)
    assert "origin" not in same["headers"] and same["uri"] == "/api/auth/oidc/login"
    assert other["headers"]["origin"] == {"value": "https://evil.example"}  # judged by the function
    assert same["headers"]["x-forwarded-host"] == {"value": "prism.example.com"}
    assert spoofed["headers"]["x-forwarded-host"] == {"value": "d111.cloudfront.net"}  # never the viewer's own
