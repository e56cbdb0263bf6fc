"""Outbound delivery: the Segment, Klaviyo and webhook queues (one SQS event source each) -> the services.

A batch comes from one queue, so from one destination. The delivery service answers per message; Powertools'
BatchProcessor turns "retry these" into the ReportBatchItemFailures response, so SQS redelivers exactly
those (and moves them to the DLQ after the queue's maxReceiveCount).
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from perkflow import wiring
from perkflow.observability import logger
from perkflow.services.outbound.delivery import QueuedMessage

# A batch that fails entirely is still answered with its item failures (SQS redelivers the same records).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class RedeliverLater(Exception):
    """A message SQS should deliver again (its reason is in the batch log line)."""


def destination_of(records: list[dict[str, Any]]) -> str:
    """The destination whose queue the batch came from (the queue name ends the ARN and the URL)."""
    arn = str(records[0].get("eventSourceARN", ""))
    queue_name = arn.rsplit(":", 1)[-1]
    for name, url in wiring.outbound().settings.queue_urls.items():
        if url.rstrip("/").rsplit("/", 1)[-1] == queue_name:
            return name
    raise ValueError(f"{queue_name} is not an outbound queue")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records: list[dict[str, Any]] = event.get("Records") or []
    if not records:
        return {"batchItemFailures": []}
    destination = destination_of(records)
    messages = [
        QueuedMessage(
            message_id=str(record["messageId"]),
            body=str(record.get("body") or ""),
            receive_count=int((record.get("attributes") or {}).get("ApproximateReceiveCount") or 1),
        )
        for record in records
    ]
    deadline = time.time() + context.get_remaining_time_in_millis() / 1000
    report = wiring.outbound().delivery.deliver(destination, messages, deadline)
    logger.info(
        "outbound batch",
        extra={"destination": destination, "messages": len(messages), **report.counts, "reasons": report.reasons},
    )
    retry = set(report.retry)

    def record_handler(record: SQSRecord) -> None:
        if record.message_id in retry:
            raise RedeliverLater(record.message_id)

    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
