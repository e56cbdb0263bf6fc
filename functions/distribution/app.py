"""Distributions and code generation, from two SQS queues (partial batch failures, each with a DLQ):

- ``customer.segment.entered`` (an EventBridge rule puts the bus envelope on the distribution queue):
  publish a code of each matching distribution's campaign to the customer, once per event and, for a
  join-once campaign, once per customer;
- code generation chunks (``{"type": "codegen", "campaign_id", "chunk"}`` on the codegen queue): write
  one chunk of a campaign's codes and queue the next.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from perkflow import wiring
from perkflow.domain.events import CustomerSegmentEntered
from perkflow.observability import logger

# A batch whose every record failed still answers its failures (no exception): SQS retries just those.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
CODEGEN = "codegen"


def record_handler(record: SQSRecord) -> None:
    message: dict[str, Any] = json.loads(record.body)
    if message.get("type") == CODEGEN:
        started = time.perf_counter()
        wiring.promotions().campaigns.generate_chunk(str(message["campaign_id"]), int(message["chunk"]))
        logger.info(
            "code generation chunk ran",
            extra={
                "campaign_id": message["campaign_id"],
                "chunk": message["chunk"],
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        return
    if message.get("detail-type") == CustomerSegmentEntered.DETAIL_TYPE:
        event = CustomerSegmentEntered.model_validate(message["detail"])
        for outcome in wiring.promotions().distributions.on_segment_entered(event):
            logger.info(
                "distribution ran",
                extra={
                    "distribution_id": outcome.distribution_id,
                    "publication_id": outcome.publication_id,
                    "skipped": outcome.skipped,
                    "event_id": event.event_id,
                },
            )
        return
    raise ValueError(f"not a message this function handles: {sorted(message)[:5]}")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
