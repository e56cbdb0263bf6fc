"""SQS event source mappings (function events of Type SQS), served against moto's queues.

A receiver per mapping long-polls the queue, fills a batch up to BatchSize within the batching window,
and hands it to the function as Lambda's SQS event, with up to the pool's size of batches in flight.
Succeeded records are deleted; failed ones (all of them on an error, the reported ones with
ReportBatchItemFailures) become visible again after $PERKFLOW_LOCAL_RETRY_SECONDS, and moto's
RedrivePolicy moves them to the DLQ after maxReceiveCount receives.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from perkflow_ops import template as tpl
from perkflow_ops.local.clients import Clients
from perkflow_ops.local.event_sources import reported_failures
from perkflow_ops.local.patterns import Pattern, filters, passes
from perkflow_ops.local.resources import Queue, Resources
from perkflow_ops.local.workers import Functions

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageTypeDef

log = logging.getLogger(__name__)

POLL_WAIT_SECONDS = 5


@dataclass
class SqsSource:
    name: str  # <Function>.<Event>
    function: str
    queue: Queue
    batch_size: int
    window_seconds: float
    report_failures: bool
    filters: list[Pattern]
    concurrency: int


def sources_from_template(template: Mapping[str, Any], resources: Resources, pool_size: int) -> list[SqsSource]:
    sources = []
    for function in tpl.functions(template):
        for event in function.events:
            if event.type != "SQS":
                continue
            props = resources.context.resolve(event.properties)
            if props.get("Enabled", True) is False:
                continue
            maximum = props.get("ScalingConfig", {}).get("MaximumConcurrency")
            sources.append(
                SqsSource(
                    name=f"{function.logical_id}.{event.name}",
                    function=function.logical_id,
                    queue=resources.queue_by_arn(str(props["Queue"])),
                    batch_size=int(props.get("BatchSize", 10)),
                    window_seconds=float(props.get("MaximumBatchingWindowInSeconds", 0)),
                    report_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                    filters=filters(props),
                    concurrency=min(int(maximum), pool_size) if maximum else pool_size,
                )
            )
    return sources


def lambda_record(message: MessageTypeDef, queue: Queue, region: str) -> dict[str, Any]:
    """One record of Lambda's SQS event."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record.update({"eventSource": "aws:sqs", "eventSourceARN": queue.arn, "awsRegion": region})
    return record


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    attribute: dict[str, Any] = {}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    attribute.update({"stringListValues": [], "binaryListValues": [], "dataType": value.get("DataType")})
    return attribute


def _filterable(record: Mapping[str, Any]) -> dict[str, Any]:
    """Lambda filters on the body as JSON when it is JSON."""
    try:
        body = json.loads(record["body"])
    except ValueError:
        return dict(record)
    return {**record, "body": body}


class QueuePollers:
    def __init__(
        self, sources: list[SqsSource], clients: Clients, functions: Functions, region: str, retry_seconds: float
    ) -> None:
        self.sources = sources
        self.clients = clients
        self.functions = functions
        self.region = region
        self.retry_visibility = max(0, math.ceil(retry_seconds))  # SQS takes whole seconds
        self._stopped = threading.Event()
        self._executors: list[ThreadPoolExecutor] = []

    def start(self) -> None:
        for source in self.sources:
            executor = ThreadPoolExecutor(max_workers=source.concurrency, thread_name_prefix=f"sqs-{source.name}")
            self._executors.append(executor)
            threading.Thread(
                target=self._receive, args=(source, executor), name=f"sqs-{source.name}", daemon=True
            ).start()

    def stop(self) -> None:
        self._stopped.set()
        for executor in self._executors:
            executor.shutdown(wait=False, cancel_futures=True)

    def _receive(self, source: SqsSource, executor: ThreadPoolExecutor) -> None:
        slots = threading.Semaphore(source.concurrency)
        while not self._stopped.is_set():
            slots.acquire()
            try:
                batch = self._collect(source)
            except Exception:
                slots.release()
                if self._stopped.is_set():
                    return
                log.exception("%s: receiving from %s failed", source.name, source.queue.name)
                self._stopped.wait(1)
                continue
            if not batch:
                slots.release()
                continue
            try:
                executor.submit(self._process_batch, source, batch, slots)
            except RuntimeError:  # the executor is shut down: the stack is stopping
                return

    def _process_batch(self, source: SqsSource, messages: list[MessageTypeDef], slots: threading.Semaphore) -> None:
        try:
            self._process(source, messages)
        except Exception:
            log.exception("%s: a batch could not be processed", source.name)
        finally:
            slots.release()

    def _collect(self, source: SqsSource) -> list[MessageTypeDef]:
        """Up to BatchSize messages: the first long-polled, the rest within the batching window."""
        batch = self._receive_some(source, source.batch_size, POLL_WAIT_SECONDS)
        deadline = time.monotonic() + source.window_seconds
        while batch and len(batch) < source.batch_size and not self._stopped.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            batch.extend(self._receive_some(source, source.batch_size - len(batch), math.ceil(min(left, 20))))
        return batch

    def _receive_some(self, source: SqsSource, wanted: int, wait: int) -> list[MessageTypeDef]:
        response = self.clients.sqs.receive_message(
            QueueUrl=source.queue.url,
            MaxNumberOfMessages=min(10, wanted),
            WaitTimeSeconds=wait,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def _process(self, source: SqsSource, messages: list[MessageTypeDef]) -> None:
        records = [lambda_record(message, source.queue, self.region) for message in messages]
        kept = [record for record in records if passes(source.filters, _filterable(record))]
        failed: set[str] = set()
        if kept:
            invocation = self.functions.invoke(source.function, {"Records": kept})
            failed = set(reported_failures(invocation, source.report_failures, [r["messageId"] for r in kept]))
            if not invocation.ok:
                error = invocation.error or {}
                log.warning(
                    "%s: batch of %d failed: %s: %s",
                    source.name,
                    len(kept),
                    error.get("errorType"),
                    error.get("errorMessage"),
                )
        # Records the filters drop are deleted unseen, as Lambda does.
        done = [record for record in records if record["messageId"] not in failed]
        retry = [record for record in records if record["messageId"] in failed]
        sqs = self.clients.sqs
        for start in range(0, len(done), 10):
            sqs.delete_message_batch(
                QueueUrl=source.queue.url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": record["receiptHandle"]}
                    for index, record in enumerate(done[start : start + 10])
                ],
            )
        for start in range(0, len(retry), 10):
            sqs.change_message_visibility_batch(
                QueueUrl=source.queue.url,
                Entries=[
                    {
                        "Id": str(index),
                        "ReceiptHandle": record["receiptHandle"],
                        "VisibilityTimeout": self.retry_visibility,
                    }
                    for index, record in enumerate(retry[start : start + 10])
                ],
            )
