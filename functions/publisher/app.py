"""The outbox relay: table stream records that carry new events -> the perkflow bus.

Partial batch failures name the first record with an unpublished event; the stream retries from there, so
an event is never lost and may arrive twice (consumers dedupe on ``event_id``).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from perkflow import wiring
from perkflow.adapters import outbox
from perkflow.observability import logger
from perkflow.services.outbox_relay import StoredChange, relay


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    changes = [
        StoredChange(
            sequence_number=str(record.dynamodb.sequence_number if record.dynamodb else ""),
            entries=outbox.new_entries(
                record.dynamodb.new_image if record.dynamodb else None,
                record.dynamodb.old_image if record.dynamodb else None,
            ),
        )
        for record in DynamoDBStreamEvent(event).records
    ]
    first_failed = relay(changes, wiring.event_bus())
    if first_failed is None:
        return {"batchItemFailures": []}
    logger.warning("events not published; the stream retries", extra={"sequence_number": first_failed})
    return {"batchItemFailures": [{"itemIdentifier": first_failed}]}
