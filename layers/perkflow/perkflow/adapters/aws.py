"""boto3 clients: created once per container, lazily, on first use (never at import).

Importing boto3 costs more than the rest of a handler's start-up, so a code path that needs no AWS call
(``GET /health``, a rejected request) never pays for it.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient


@cache
def _client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    # Standard retry mode backs off on throttling; a larger pool serves the handlers' worker threads.
    config = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32)
    return boto3.client(service, config=config)  # type: ignore[call-overload]


def dynamodb() -> DynamoDBClient:
    return _client("dynamodb")  # type: ignore[no-any-return]


def events() -> EventBridgeClient:
    return _client("events")  # type: ignore[no-any-return]


def sqs() -> SQSClient:
    return _client("sqs")  # type: ignore[no-any-return]


def secretsmanager() -> SecretsManagerClient:
    return _client("secretsmanager")  # type: ignore[no-any-return]


def reset_clients() -> None:
    """Forget cached clients (tests start a fresh moto mock per test)."""
    _client.cache_clear()
