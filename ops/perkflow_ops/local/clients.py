"""boto3 clients of the stack process, bound to the local emulators with dummy credentials.

Explicit credentials and endpoints keep a developer's real AWS profile out of every local call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

REGION = "us-east-1"
# moto's default account, so ARNs the stack computes match the ones moto reports.
ACCOUNT = "123456789012"
ACCESS_KEY_ID = "local"
SECRET_ACCESS_KEY = "local"  # noqa: S105 - a dummy the emulators accept, not a secret

# Long polls (SQS WaitTimeSeconds) must outlive the read timeout; many threads share each client.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=64, read_timeout=30)
_PROBE = Config(retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=2)


def session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY, region_name=REGION
    )


def probe_config() -> Config:
    """One attempt, short timeouts: for readiness checks that poll."""
    return _PROBE


@dataclass
class Clients:
    dynamodb: DynamoDBClient
    streams: DynamoDBStreamsClient
    events: EventBridgeClient
    sqs: SQSClient
    secretsmanager: SecretsManagerClient

    @classmethod
    def connect(cls, dynamodb_endpoint: str, moto_endpoint: str) -> Clients:
        aws = session()
        return cls(
            dynamodb=aws.client("dynamodb", endpoint_url=dynamodb_endpoint, config=_CONFIG),
            streams=aws.client("dynamodbstreams", endpoint_url=dynamodb_endpoint, config=_CONFIG),
            events=aws.client("events", endpoint_url=moto_endpoint, config=_CONFIG),
            sqs=aws.client("sqs", endpoint_url=moto_endpoint, config=_CONFIG),
            secretsmanager=aws.client("secretsmanager", endpoint_url=moto_endpoint, config=_CONFIG),
        )
