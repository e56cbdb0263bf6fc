"""DynamoDB stream event source mappings (function events of Type DynamoDB) on DynamoDB Local's streams.

A poller per mapping reads every shard of the stream in order (a child shard only after its parent is
drained), keeps the records its FilterCriteria match, and invokes the function with Lambda's DynamoDB
event, BatchSize records at a time. On an error the batch is retried; with ReportBatchItemFailures the
records before the first reported SequenceNumber are done and the retry starts at it, so records of a
shard are always delivered in order. MaximumRetryAttempts (-1: until it succeeds) bounds the retries.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from perkflow_ops import template as tpl
from perkflow_ops.local.clients import Clients
from perkflow_ops.local.event_sources import reported_failures
from perkflow_ops.local.patterns import Pattern, filters, passes
from perkflow_ops.local.resources import Resources
from perkflow_ops.local.workers import Functions

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.2  # Lambda polls a shard about four times a second
DESCRIBE_INTERVAL = 2.0  # how often new shards are looked for


@dataclass
class StreamSource:
    name: str  # <Function>.<Event>
    function: str
    stream_arn: str
    starting_position: str
    batch_size: int
    report_failures: bool
    filters: list[Pattern]
    max_retries: int  # -1: retry until it succeeds


def sources_from_template(template: Mapping[str, Any], resources: Resources) -> list[StreamSource]:
    sources = []
    for function in tpl.functions(template):
        for event in function.events:
            if event.type != "DynamoDB":
                continue
            props = resources.context.resolve(event.properties)
            if props.get("Enabled", True) is False:
                continue
            sources.append(
                StreamSource(
                    name=f"{function.logical_id}.{event.name}",
                    function=function.logical_id,
                    stream_arn=str(props["Stream"]),
                    starting_position=str(props.get("StartingPosition", "TRIM_HORIZON")),
                    batch_size=int(props.get("BatchSize", 100)),
                    report_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                    filters=filters(props),
                    max_retries=int(props.get("MaximumRetryAttempts", -1)),
                )
            )
    return sources


def lambda_record(record: Mapping[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """One record of Lambda's DynamoDB stream event (JSON: epoch seconds, base64 binaries)."""
    converted: dict[str, Any] = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": region,  # DynamoDB Local says "ddblocal"
        "dynamodb": _json_ready(record["dynamodb"]),
    }
    if "userIdentity" in record:
        converted["userIdentity"] = _json_ready(record["userIdentity"])
    converted["eventSourceARN"] = stream_arn
    return converted


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_ready(item) for item in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):
        seconds = value.timestamp()
        return int(seconds) if seconds.is_integer() else seconds
    return value


@dataclass
class _Shard:
    shard_id: str
    parent: str | None
    iterator: str | None = None
    closed: bool = False  # no more records will come
    last_sequence: str | None = None
    buffer: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    retry_at: float = 0.0

    @property
    def drained(self) -> bool:
        return self.closed and not self.buffer


class StreamPollers:
    def __init__(
        self, sources: list[StreamSource], clients: Clients, functions: Functions, region: str, retry_seconds: float
    ) -> None:
        self.sources = sources
        self.clients = clients
        self.functions = functions
        self.region = region
        self.retry_seconds = retry_seconds
        self._stopped = threading.Event()

    def start(self) -> None:
        for source in self.sources:
            threading.Thread(target=self._run, args=(source,), name=f"stream-{source.name}", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()

    def _run(self, source: StreamSource) -> None:
        shards: dict[str, _Shard] = {}
        first = True
        described = 0.0
        while not self._stopped.is_set():
            busy = False
            try:
                if time.monotonic() - described > DESCRIBE_INTERVAL:
                    self._discover(source, shards, first)
                    first, described = False, time.monotonic()
                for shard in shards.values():
                    parent = shards.get(shard.parent) if shard.parent else None
                    if shard.drained or (parent is not None and not parent.drained):
                        continue
                    busy = self._step(source, shard) or busy
            except Exception:
                if self._stopped.is_set():
                    return
                log.exception("%s: polling %s failed", source.name, source.stream_arn)
            if not busy:
                self._stopped.wait(POLL_INTERVAL)

    def _discover(self, source: StreamSource, shards: dict[str, _Shard], first: bool) -> None:
        start: str | None = None
        while True:
            arguments: dict[str, Any] = {"StreamArn": source.stream_arn}
            if start:
                arguments["ExclusiveStartShardId"] = start
            description = self.clients.streams.describe_stream(**arguments)["StreamDescription"]
            for found in description.get("Shards", []):
                shard_id = found["ShardId"]
                if shard_id not in shards:
                    shard = _Shard(shard_id, found.get("ParentShardId"))
                    # LATEST applies to the shards open when the mapping starts; later shards start at 0.
                    position = source.starting_position if first else "TRIM_HORIZON"
                    shard.iterator = self.clients.streams.get_shard_iterator(
                        StreamArn=source.stream_arn,
                        ShardId=shard_id,
                        ShardIteratorType=position,  # type: ignore[arg-type]
                    )["ShardIterator"]
                    shards[shard_id] = shard
            start = description.get("LastEvaluatedShardId")
            if not start:
                return

    def _step(self, source: StreamSource, shard: _Shard) -> bool:
        """Fetch and deliver what is due on one shard; True when there was work."""
        fetched = False
        if len(shard.buffer) < source.batch_size and not shard.closed:
            fetched = self._fetch(source, shard)
        if not shard.buffer or time.monotonic() < shard.retry_at:
            return fetched
        batch = shard.buffer[: source.batch_size]
        invocation = self.functions.invoke(source.function, {"Records": batch})
        sequences = [record["dynamodb"]["SequenceNumber"] for record in batch]
        failed = reported_failures(invocation, source.report_failures, sequences)
        if not failed:
            del shard.buffer[: len(batch)]
            shard.attempts = 0
            return True
        # Done up to the first failure; the retry starts there, keeping the shard's order.
        del shard.buffer[: sequences.index(failed[0])]
        shard.attempts += 1
        if 0 <= source.max_retries < shard.attempts:
            dropped = shard.buffer[: source.batch_size]
            del shard.buffer[: len(dropped)]
            shard.attempts = 0
            log.error(
                "%s: %d records dropped after %d retries, from sequence %s",
                source.name,
                len(dropped),
                source.max_retries,
                failed[0],
            )
            return True
        error = invocation.error or {}
        log.warning(
            "%s: batch failed at sequence %s (attempt %d): %s",
            source.name,
            failed[0],
            shard.attempts,
            error.get("errorMessage", "reported failure"),
        )
        shard.retry_at = time.monotonic() + self.retry_seconds
        return True

    def _fetch(self, source: StreamSource, shard: _Shard) -> bool:
        streams = self.clients.streams
        if shard.iterator is None:
            after = {"SequenceNumber": shard.last_sequence, "ShardIteratorType": "AFTER_SEQUENCE_NUMBER"}
            position: dict[str, Any] = after if shard.last_sequence else {"ShardIteratorType": "TRIM_HORIZON"}
            shard.iterator = streams.get_shard_iterator(
                StreamArn=source.stream_arn, ShardId=shard.shard_id, **position
            )["ShardIterator"]
        try:
            response = streams.get_records(ShardIterator=shard.iterator, Limit=1000)
        except streams.exceptions.ExpiredIteratorException:
            shard.iterator = None  # asks again after the last record seen
            return False
        shard.iterator = response.get("NextShardIterator")
        shard.closed = shard.iterator is None
        records = response.get("Records", [])
        for record in records:
            converted = lambda_record(dict(record), source.stream_arn, self.region)
            shard.last_sequence = converted["dynamodb"]["SequenceNumber"]
            if passes(source.filters, converted):
                shard.buffer.append(converted)
        return bool(records)
