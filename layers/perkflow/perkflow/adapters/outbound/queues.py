"""SQS: putting messages back on a destination's queue (parked messages, control steps) and writing dead
letters with their reason as message attributes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from perkflow.adapters import aws

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class SqsQueues:
    def __init__(
        self, queues: Mapping[str, str], dead_letters: Mapping[str, str], client: SQSClient | None = None
    ) -> None:
        self.queues = dict(queues)
        self.dead_letters = dict(dead_letters)
        self._client = client

    @property
    def client(self) -> SQSClient:
        if self._client is None:
            self._client = aws.sqs()
        return self._client

    def _url(self, urls: Mapping[str, str], destination: str) -> str:
        url = urls.get(destination)
        if not url:
            raise RuntimeError(f"no queue is configured for {destination}")
        return url

    def send(self, destination: str, bodies: Sequence[str], delay_seconds: int = 0) -> None:
        url = self._url(self.queues, destination)
        for start in range(0, len(bodies), 10):
            entries: list[Any] = [
                {"Id": str(index), "MessageBody": body, "DelaySeconds": min(900, max(0, delay_seconds))}
                for index, body in enumerate(bodies[start : start + 10])
            ]
            response = self.client.send_message_batch(QueueUrl=url, Entries=entries)
            if response.get("Failed"):
                raise RuntimeError(f"{len(response['Failed'])} messages could not be queued for {destination}")

    def dead_letter(self, destination: str, body: str, attributes: Mapping[str, str]) -> None:
        self.client.send_message(
            QueueUrl=self._url(self.dead_letters, destination),
            MessageBody=body,
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value} for name, value in attributes.items() if value
            },
        )
