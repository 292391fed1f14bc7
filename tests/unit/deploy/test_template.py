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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint
from cfnlint.decode import decode

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"
SECRET_VARS = ("PRISM_API_KEY", "PRISM_CREDS_KEY", "PRISM_DATABASE_URL")
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


# ---------------------------------------------------------------- linters


def test_cfn_lint_passes_on_the_template() -> None:
    exe = str(Path(sys.executable).with_name("cfn-lint"))  # the locked version, not one on PATH
    proc = subprocess.run([exe, str(TEMPLATE)], capture_output=True, text=True, timeout=240)
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


@pytest.mark.skipif(shutil.which("sam") is None, reason="aws-sam-cli is not installed (too heavy for dev)")
def test_sam_validate_lint() -> None:
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
    command = ["sam", "validate", "--lint", "-t", str(TEMPLATE)]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


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


def test_zip_code_uri_ships_requirements_in_step_with_the_lock_file(resources: dict[str, Any]) -> None:
    for name in ("IngestionFunction", "WriterFunction"):
        code_uri = ROOT / functions(resources)[name]["CodeUri"]
        assert (code_uri / "requirements.txt").exists(), f"{name}: sam build needs CodeUri/requirements.txt"
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv not on PATH")
    command = [
        uv, "export", "--frozen", "--no-dev", "--no-emit-workspace", "--package", "prism-functions",
        "--format", "requirements-txt", "--quiet",
    ]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    exported = proc.stdout

    def pins(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]

    committed = (ROOT / "functions" / "requirements.txt").read_text()
    assert pins(committed) == pins(exported), (
        "functions/requirements.txt is stale: run `uv export --frozen --no-dev --no-emit-workspace "
        "--package prism-functions --format requirements-txt -o functions/requirements.txt`"
    )
    assert "litellm" not in committed, "the zip functions must not ship litellm"


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


def test_writer_retries_are_bounded(template: dict[str, Any], resources: dict[str, Any]) -> None:
    event = writer_kinesis_event(resources)
    assert 0 <= param_bound(template, event["MaximumRetryAttempts"]) <= 10_000
    assert 60 <= param_bound(template, event["MaximumRecordAgeInSeconds"]) <= 604_800
    default = template["Parameters"][ref_name(event["MaximumRetryAttempts"])]["Default"]
    assert 0 < int(default) <= 10, "retry a failing batch a few times, not -1 (forever)"


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
    buckets = of_type(resources, "AWS::S3::Bucket")
    assert len(buckets) == 1
    props = next(iter(buckets.values()))["Properties"]
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


def test_secrets_come_from_secrets_manager_never_plain_parameters(resources: dict[str, Any]) -> None:
    seen = set()
    for name, props in functions(resources).items():
        for var in SECRET_VARS:
            if var in env_of(props):
                value = env_of(props)[var]
                assert isinstance(value, dict) and "Fn::Sub" in value, f"{name}.{var}: {value!r}"
                assert value["Fn::Sub"].startswith("{{resolve:secretsmanager:"), f"{name}.{var}"
                seen.add(var)
    assert seen == set(SECRET_VARS)


def test_no_parameter_carries_a_secret_value(template: dict[str, Any]) -> None:
    for name, param in template["Parameters"].items():
        if re.search(r"password|secret|key", name, re.I) and not name.endswith(("Arn", "Revision")):
            pytest.fail(f"parameter {name} looks like a secret value: pass a Secrets Manager ARN")
        assert not param.get("NoEcho"), f"{name}: a NoEcho parameter is a secret passed in plain"


def test_database_functions_can_join_a_vpc(template: dict[str, Any], resources: dict[str, Any]) -> None:
    assert {"SubnetIds", "SecurityGroupIds"} <= set(template["Parameters"])
    for name in ("WriterFunction", "ChatApiFunction", "ChatStreamFunction"):
        assert "VpcConfig" in functions(resources)[name], name


def test_outputs_give_the_urls(template: dict[str, Any]) -> None:
    assert {"IngestionApiUrl", "ChatApiUrl", "ChatStreamUrl"} <= set(template["Outputs"])


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


def test_public_function_urls_are_opt_in(template: dict[str, Any]) -> None:
    assert template["Parameters"]["ChatUrlAuthType"]["Default"] == "AWS_IAM"
    permissions = of_type(template["Resources"], "AWS::Lambda::Permission")
    public = {n: p for n, p in permissions.items() if p["Properties"].get("Principal") == "*"}
    assert public and all(p.get("Condition") == "PublicChatUrls" for p in public.values())


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
