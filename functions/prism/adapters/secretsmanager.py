"""AWS Secrets Manager: the client ``prism.secrets.SecretCache`` reads through (boto3 stays in the
adapters)."""

from __future__ import annotations

from typing import Any


def secretsmanager_client() -> Any:
    import boto3

    return boto3.client("secretsmanager")
