"""Continuation jobs on an SQS queue: long work (backfills, bulk writes) cut into pages, one message each."""

from __future__ import annotations

import json
from typing import Any

from perkflow.adapters import aws


class JobQueue:
    def __init__(self, url: str) -> None:
        self.url = url

    def send(self, job: dict[str, Any]) -> None:
        if not self.url:
            raise RuntimeError("no job queue configured for this function")
        aws.sqs().send_message(QueueUrl=self.url, MessageBody=json.dumps(job, separators=(",", ":")))
