from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

EVENT = json.loads((Path(__file__).resolve().parents[2] / "events" / "chat_turn_with_pii.json").read_text())


def make_event(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(EVENT), "id": str(uuid.uuid4()), **changes}


@pytest.fixture
def s3_bucket(aws_endpoint: str) -> str:
    import boto3

    name = f"prism-test-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=aws_endpoint).create_bucket(Bucket=name)
    return name
