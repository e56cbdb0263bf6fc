"""Continuation messages of long work (code generation) on an SQS queue the ``distribution`` function reads."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from perkflow.adapters import aws

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class SqsJobQueue:
    def __init__(self, queue_url: str | None, client: SQSClient | None = None) -> None:
        self.queue_url = queue_url
        self._client = client

    @property
    def client(self) -> SQSClient:
        if self._client is None:
            self._client = aws.sqs()
        return self._client

    def send(self, message: Mapping[str, Any], delay_seconds: int = 0) -> None:
        if not self.queue_url:
            raise RuntimeError("PERKFLOW_CODEGEN_QUEUE_URL is not set: this function cannot start background jobs")
        self.client.send_message(
            QueueUrl=self.queue_url,
            MessageBody=json.dumps(dict(message), separators=(",", ":")),
            DelaySeconds=delay_seconds,
        )
