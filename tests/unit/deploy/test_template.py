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
SECRET_VARS = ("PRISM_API_KEY", "PRISM_CREDS_KEY", "PRISM_DATABASE_URL", "PRISM_ADMIN_PASSWORD")
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
    "IngestionFunction": {"IngestApiKeySecret"},
    "WriterFunction": DATABASE_SECRET,
    "WriterMaintenanceFunction": DATABASE_SECRET,
    "MigrationsFunction": DATABASE_SECRET,
    "ChatApiFunction": DATABASE_SECRET | {"CredsKeySecretArn", "IngestApiKeySecret"},
    "ChatStreamFunction": DATABASE_SECRET | {"CredsKeySecretArn", "IngestApiKeySecret"},
    "QueryFunction": DATABASE_SECRET,
    "IdentityFunction": DATABASE_SECRET | {"AdminSecret"},
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


def test_no_parameter_carries_a_secret_value(template: dict[str, Any]) -> None:
    for name, param in template["Parameters"].items():
        if re.search(r"password|secret|key", name, re.I) and not name.endswith(("Arn", "Revision")):
            pytest.fail(f"parameter {name} looks like a secret value: pass a Secrets Manager ARN")
        assert not param.get("NoEcho"), f"{name}: a NoEcho parameter is a secret passed in plain"


def test_database_functions_can_join_a_vpc(template: dict[str, Any], resources: dict[str, Any]) -> None:
    assert {"SubnetIds", "SecurityGroupIds"} <= set(template["Parameters"])
    for name in ("WriterFunction", "ChatApiFunction", "ChatStreamFunction", "QueryFunction", "IdentityFunction",
                 "WriterMaintenanceFunction", "MigrationsFunction"):
        assert "VpcConfig" in functions(resources)[name], name


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
        if behaviour["PathPattern"] not in STREAM_ROUTES:
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
        assert policy["HeadersConfig"]["HeaderBehavior"] == "whitelist" and "host" not in headers
        assert {"x-amz-content-sha256", "x-csrf-token", "content-type", "origin"} <= headers
        assert len(headers) <= 10  # CloudFront's quota of headers per origin request policy


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
    for name in ("WriterFunction", "QueryFunction", "IdentityFunction", "ChatApiFunction", "ChatStreamFunction"):
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
        ("IdentityRole", {**{a: {"IdentityLogGroup"} for a in LOGS}, **ENI, SECRET: DATABASE_SECRET | {"AdminSecret"}}),
        ("ChatRole", {
            **{a: {"ChatLogGroup"} for a in LOGS}, **ENI,
            SECRET: DATABASE_SECRET | {"CredsKeySecretArn", "IngestApiKeySecret"},
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
            **{a: {"IngestionLogGroup"} for a in LOGS}, SECRET: {"IngestApiKeySecret"},
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
