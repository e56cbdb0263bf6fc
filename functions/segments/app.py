"""Segment recomputation: bus events (through the segments queue), the minute sweep, backfill jobs.

A queue batch is grouped by customer so each customer's state is read and written once per batch; a failure
reports that customer's records only (partial batch response), which the queue redelivers.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.data_classes import SQSEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from perkflow import wiring
from perkflow.domain.segments.inputs import SegmentInput, from_bus
from perkflow.observability import logger


def _queue_batch(event: dict[str, Any]) -> dict[str, Any]:
    engine = wiring.segment_engine()
    failures: list[str] = []
    per_customer: dict[str, list[tuple[str, SegmentInput]]] = {}
    for record in SQSEvent(event).records:
        body = json.loads(record.body)
        if "kind" in body:
            try:
                engine.run_job(body)
            except Exception:
                logger.exception(
                    "segments job failed", extra={"job": body.get("kind"), "segment": body.get("segment_id")}
                )
                failures.append(record.message_id)
            continue
        item = from_bus(body["detail-type"], body["detail"])
        if item is not None:
            per_customer.setdefault(item.customer_id, []).append((record.message_id, item))
    for customer_id, items in per_customer.items():
        try:
            engine.apply(customer_id, [item for _, item in items])
        except Exception:
            logger.exception("segment state update failed", extra={"customer_id": customer_id})
            failures.extend(message_id for message_id, _ in items)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("detail-type") == "Scheduled Event":
        checked = wiring.segment_engine().sweep_due()
        return {"checked": checked}
    return _queue_batch(event)
