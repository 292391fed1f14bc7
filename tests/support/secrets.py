"""Secrets Manager for the secrets tests: moto's (in process), a client counting its reads, and a
clock to move the cache's TTL by. The fixtures are imported by the secrets folders' conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.support.clock import TestClock


class CountingClient:
    """boto3's Secrets Manager client (moto behind it), counting GetSecretValue calls; ``down``
    makes every call fail as an unreachable endpoint does."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls = 0
        self.down = False

    def get_secret_value(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.down:
            raise ConnectionError("Secrets Manager unreachable")
        return self.client.get_secret_value(**kwargs)


@pytest.fixture
def sm() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


@pytest.fixture
def clock() -> TestClock:
    return TestClock(datetime(2030, 1, 1, tzinfo=UTC))


@pytest.fixture
def counting(sm: Any) -> CountingClient:
    return CountingClient(sm)
