"""Loyalty from the bus and the clock:

- the loyalty queue (an EventBridge rule puts ``customer.event.recorded``, ``customer.segment.entered``,
  ``customer.created`` and ``customer.updated`` envelopes on it; partial batch failures, with a DLQ): orders,
  refunds, custom events, segment entries, sign-ups, profile changes and referrals -> points and rewards;
  the same queue carries ``{"type": "loyalty.sweep", "program_id"}`` continuations of a daily pass;
- the hourly schedule (``LoyaltyHourly``): each program whose local day has turned gets its daily pass
  (pending activation, tier review, expiry, reminders, birthdays), once per program-local day.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from perkflow import wiring
from perkflow.observability import logger

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
SWEEP = "loyalty.sweep"
MARGIN_MS = 10_000  # stop starting members this long before the function's timeout
_context: dict[str, LambdaContext] = {}


def _out_of_time() -> bool:
    context = _context.get("current")
    return context is not None and context.get_remaining_time_in_millis() < MARGIN_MS


def record_handler(record: SQSRecord) -> None:
    message: dict[str, Any] = json.loads(record.body)
    if message.get("type") == SWEEP:
        report = wiring.loyalty().sweeper.continue_program(str(message["program_id"]), _out_of_time)
        logger.info("loyalty daily pass continued", extra={"report": report.as_json() if report else None})
        return
    outcomes = wiring.loyalty().triggers.handle(str(message.get("detail-type")), message.get("detail") or {})
    logger.info("loyalty trigger", extra={"detail_type": message.get("detail-type"), "outcomes": outcomes})


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    _context["current"] = context
    if event.get("detail-type") == "Scheduled Event":
        reports = [report.as_json() for report in wiring.loyalty().sweeper.hourly(_out_of_time)]
        logger.info("loyalty hourly", extra={"reports": reports})
        return {"programs": reports}
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
