"""Kinesis adapter: the Bus over PutRecords, re-sending only the records that failed."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from prism.errors import BusError
from prism.ports import PublishResult

log = logging.getLogger(__name__)

MAX_RECORDS = 500  # PutRecords limit
MAX_BYTES = 5 * 1024 * 1024  # PutRecords limit per request


def kinesis_client(endpoint_url: str | None = None) -> Any:
    return boto3.client(
        "kinesis",
        endpoint_url=endpoint_url,
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=3, read_timeout=10),
    )


class KinesisBus:
    def __init__(self, stream: str, *, client: Any = None, attempts: int = 5) -> None:
        self.stream = stream
        self._client = client or kinesis_client()
        self._attempts = attempts

    def publish(self, messages: Sequence[tuple[str, bytes]]) -> PublishResult:
        result = PublishResult()
        start = 0
        while start < len(messages):
            end, size = start, 0
            while end < len(messages) and end - start < MAX_RECORDS:
                size += len(messages[end][1]) + len(messages[end][0])
                if size > MAX_BYTES and end > start:
                    break
                end += 1
            failed = self._put(messages, list(range(start, end)))
            result.failed.extend(failed)
            result.published += (end - start) - len(failed)
            start = end
        if result.failed and result.published == 0:
            raise BusError(f"Kinesis: none of {len(result.failed)} records could be published")
        return result

    def _put(self, messages: Sequence[tuple[str, bytes]], indexes: list[int]) -> list[int]:
        """PutRecords, then re-send only the failed ones with backoff. Returns what never made it."""
        pending = indexes
        for attempt in range(self._attempts):
            try:
                reply = self._client.put_records(
                    StreamName=self.stream,
                    Records=[{"Data": messages[i][1], "PartitionKey": messages[i][0]} for i in pending],
                )
            except (ClientError, BotoCoreError) as exc:
                if attempt == self._attempts - 1:
                    raise BusError(f"Kinesis: {exc}") from exc
                time.sleep(min(0.05 * 2**attempt, 1.0))
                continue
            pending = [i for i, r in zip(pending, reply["Records"], strict=True) if r.get("ErrorCode")]
            if not pending:
                return []
            log.warning("Kinesis: %d records failed (attempt %d), re-sending them", len(pending), attempt + 1)
            time.sleep(min(0.05 * 2**attempt, 1.0))
        return pending

    def ping(self) -> None:
        try:
            self._client.describe_stream_summary(StreamName=self.stream)
        except (ClientError, BotoCoreError) as exc:
            raise BusError(f"Kinesis: {exc}") from exc
