"""S3 adapter of the RawPayloadStore (AWS, LocalStack or moto through AWS_ENDPOINT_URL)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from prism.errors import RawPayloadNotFoundError, StoreError
from prism.ports import DeadLetter


def s3_client(endpoint_url: str | None = None) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        config=Config(
            retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=3, read_timeout=15, max_pool_connections=32
        ),
    )


class S3RawPayloadStore:
    def __init__(self, bucket: str, *, client: Any = None, prefix: str = "raw/") -> None:
        self.bucket = bucket
        self.prefix = prefix
        self._client = client or s3_client()
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="s3-put")

    def put(self, key: str, data: bytes) -> str:
        full = self.prefix + key
        try:
            self._client.put_object(Bucket=self.bucket, Key=full, Body=data, ContentType="application/json")
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"S3 put {self.bucket}/{full}: {exc}") from exc
        return f"s3://{self.bucket}/{full}"

    def put_many(self, items: Sequence[tuple[str, bytes]]) -> list[str]:
        if len(items) <= 1:
            return [self.put(k, d) for k, d in items]
        return list(self._pool.map(lambda item: self.put(*item), items))

    def get(self, uri: str) -> bytes:
        if not uri.startswith("s3://"):
            raise StoreError(f"not an s3:// URI: {uri}")
        bucket, _, key = uri[5:].partition("/")
        try:
            body = self._client.get_object(Bucket=bucket, Key=key)["Body"]
            return bytes(body.read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise RawPayloadNotFoundError(f"no raw payload at {uri}") from exc
            raise StoreError(f"S3 get {uri}: {exc}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"S3 get {uri}: {exc}") from exc

    def ensure_bucket(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError:
            try:
                self._client.create_bucket(Bucket=self.bucket)
            except (ClientError, BotoCoreError) as exc:
                raise StoreError(f"S3 create bucket {self.bucket}: {exc}") from exc

    def ping(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"S3 bucket {self.bucket}: {exc}") from exc


class S3DeadLetters:
    """The DeadLetterStore in S3: ``<prefix><date>/<id>.json`` (the raw payload bucket's
    ``dead-letters/``; the writer's role may put objects there and nowhere else)."""

    def __init__(self, bucket: str, *, client: Any = None, prefix: str = "dead-letters/") -> None:
        self.bucket = bucket
        self.prefix = prefix
        self._client = client or s3_client()

    def put(self, letter: DeadLetter) -> str:
        key = self.prefix + letter.key
        try:
            self._client.put_object(Bucket=self.bucket, Key=key, Body=letter.to_json(), ContentType="application/json")
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"S3 put {self.bucket}/{key}: {exc}") from exc
        return key

    def letters(self, limit: int = 1000) -> list[tuple[str, DeadLetter]]:
        found: list[tuple[str, DeadLetter]] = []
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
                for obj in page.get("Contents", []):
                    body = self._client.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
                    found.append((obj["Key"], DeadLetter.from_json(body)))
                    if len(found) >= limit:
                        return found
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"S3 list {self.bucket}/{self.prefix}: {exc}") from exc
        return found

    def remove(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"S3 delete {self.bucket}/{key}: {exc}") from exc
