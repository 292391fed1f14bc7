"""AWS Secrets Manager: the client ``prism.secrets.SecretCache`` reads through (boto3 stays in the
adapters).

The ingestion key is re-read on a request's path when its cache entry expires, so the client gives
up quickly (botocore's defaults wait a minute per attempt); the cache then keeps the last value."""

from __future__ import annotations

from typing import Any


def secretsmanager_client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "secretsmanager",
        config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=2, read_timeout=5),
    )
