"""Continuation of a program's daily work on the ``loyalty`` function's own queue (it ran out of time)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from perkflow.adapters import aws

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

QUEUE_VARIABLE = "PERKFLOW_LOYALTY_QUEUE_URL"
SWEEP_MESSAGE = "loyalty.sweep"


class SqsContinuations:
    def __init__(self, queue_url: str | None, client: SQSClient | None = None) -> None:
        self.queue_url = queue_url
        self._client = client

    @property
    def client(self) -> SQSClient:
        if self._client is None:
            self._client = aws.sqs()
        return self._client

    def continue_sweep(self, program_id: str) -> None:
        if not self.queue_url:
            return  # the next hourly run continues where this one stopped
        body = {"type": SWEEP_MESSAGE, "program_id": program_id}
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(body, separators=(",", ":")))
