"""Kinesis adapter: the Bus over PutRecords, re-sending only the records that failed; the reading
side the local poller (``writer.kinesis_poller``) needs (shards, iterators, GetRecords); and an SQS
queue as the poller's dead-letter destination."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
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

    def stats(self, group: str) -> None:
        """Kinesis keeps no consumer-group figures here (the event source mapping's are in CloudWatch)."""
        return None

    def ping(self) -> None:
        try:
            self._client.describe_stream_summary(StreamName=self.stream)
        except (ClientError, BotoCoreError) as exc:
            raise BusError(f"Kinesis: {exc}") from exc


def sqs_client(endpoint_url: str | None = None) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=endpoint_url,
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=3, read_timeout=10),
    )


@dataclass(frozen=True)
class Shard:
    shard_id: str
    parents: tuple[str, ...]  # ParentShardId, AdjacentParentShardId (after a split or a merge)


@dataclass(frozen=True)
class StreamRecord:
    """One record as GetRecords returns it."""

    sequence_number: str
    partition_key: str
    data: bytes
    arrival: float  # ApproximateArrivalTimestamp, seconds since the epoch


@dataclass(frozen=True)
class StreamDescription:
    name: str
    arn: str
    created: float  # StreamCreationTimestamp: tells a stream from an earlier one of the same name


ITERATOR_EXPIRED = "kinesis_iterator_expired"


class KinesisStreamReader:
    """What a consumer of one Kinesis stream needs: its shards, shard iterators, GetRecords."""

    def __init__(self, stream: str, *, client: Any = None) -> None:
        self.stream = stream
        self._client = client or kinesis_client()

    def describe(self) -> StreamDescription:
        try:
            summary = self._client.describe_stream_summary(StreamName=self.stream)["StreamDescriptionSummary"]
        except (ClientError, BotoCoreError) as exc:
            raise BusError(f"Kinesis: {exc}") from exc
        created = summary.get("StreamCreationTimestamp")
        return StreamDescription(
            name=self.stream, arn=summary["StreamARN"], created=created.timestamp() if created else 0.0
        )

    def shards(self) -> list[Shard]:
        out: list[Shard] = []
        kwargs: dict[str, Any] = {"StreamName": self.stream}
        try:
            while True:
                reply = self._client.list_shards(**kwargs)
                for s in reply.get("Shards", []):
                    parents = tuple(p for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId")) if p)
                    out.append(Shard(s["ShardId"], parents))
                token = reply.get("NextToken")
                if not token:
                    return out
                kwargs = {"NextToken": token}
        except (ClientError, BotoCoreError) as exc:
            raise BusError(f"Kinesis: {exc}") from exc

    def iterator(self, shard_id: str, position: str, after: str | None = None) -> str:
        """A shard iterator: after sequence number ``after``, else at ``position`` (TRIM_HORIZON, LATEST)."""
        kwargs: dict[str, Any] = {"StreamName": self.stream, "ShardId": shard_id, "ShardIteratorType": position}
        if after is not None:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=after)
        try:
            return str(self._client.get_shard_iterator(**kwargs)["ShardIterator"])
        except (ClientError, BotoCoreError) as exc:
            raise BusError(f"Kinesis: {exc}") from exc

    def records(self, iterator: str, limit: int) -> tuple[list[StreamRecord], str | None, int]:
        """(records, the next iterator or None when the shard is closed and read to its end,
        milliseconds behind the shard's tip). An expired iterator raises BusError with code
        ``ITERATOR_EXPIRED``."""
        try:
            reply = self._client.get_records(ShardIterator=iterator, Limit=max(1, min(limit, 10_000)))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExpiredIteratorException":
                raise BusError(f"Kinesis: {exc}", code=ITERATOR_EXPIRED) from exc
            raise BusError(f"Kinesis: {exc}") from exc
        except BotoCoreError as exc:
            raise BusError(f"Kinesis: {exc}") from exc
        records = [
            StreamRecord(
                sequence_number=r["SequenceNumber"],
                partition_key=r.get("PartitionKey", ""),
                data=bytes(r["Data"]),
                arrival=r["ApproximateArrivalTimestamp"].timestamp() if r.get("ApproximateArrivalTimestamp") else 0.0,
            )
            for r in reply.get("Records", [])
        ]
        return records, reply.get("NextShardIterator"), int(reply.get("MillisBehindLatest") or 0)


class SqsDeadLetters:
    """An SQS queue as a Lambda on-failure destination: one JSON message per discarded batch."""

    def __init__(self, queue: str, *, client: Any = None) -> None:
        self.queue = queue
        self._client = client or sqs_client()
        self._url: str | None = queue if queue.startswith(("http://", "https://")) else None

    @property
    def url(self) -> str:
        if self._url is None:
            try:
                try:
                    self._url = str(self._client.get_queue_url(QueueName=self.queue)["QueueUrl"])
                except ClientError as exc:
                    if "NonExistentQueue" not in str(exc) and "QueueDoesNotExist" not in str(exc):
                        raise
                    self._url = str(self._client.create_queue(QueueName=self.queue)["QueueUrl"])
                    log.info("created the dead-letter queue %s", self.queue)
            except (ClientError, BotoCoreError) as exc:
                raise BusError(f"SQS {self.queue}: {exc}") from exc
        return self._url

    def send(self, body: dict[str, Any]) -> None:
        try:
            self._client.send_message(QueueUrl=self.url, MessageBody=json.dumps(body))
        except (ClientError, BotoCoreError) as exc:
            raise BusError(f"SQS {self.queue}: {exc}") from exc
