"""Local stack fixtures for the integration and compat tiers (registered in tests/conftest.py).

- ``stack``: the repository's template.yaml.
- ``probe_stack``: tests/integration/probe/template.yaml, a test-only template whose probe function records
  every trigger it receives, so the local stack's deliveries can be checked from the outside.
Both run with timers off (schedules fire only on demand) and skip only where Java or DynamoDB Local is
missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest

from perkflow_ops.local.dynamodb_local import missing_prerequisite
from perkflow_ops.local.harness import RunningStack, start_stack

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_sqs import SQSClient

PROBE_TEMPLATE = Path(__file__).parent / "integration" / "probe" / "template.yaml"
STACK_ENV = {"PERKFLOW_LOCAL_TIMERS": "off", "PERKFLOW_LOCAL_RETRY_SECONDS": "1"}


def require_local_stack() -> None:
    problem = missing_prerequisite()
    if problem:
        pytest.skip(f"the local stack cannot run here: {problem}")


@pytest.fixture(scope="session")
def stack() -> Iterator[RunningStack]:
    require_local_stack()
    with start_stack(env=STACK_ENV) as running:
        yield running


@pytest.fixture(scope="session")
def probe_stack() -> Iterator[RunningStack]:
    require_local_stack()
    with start_stack(template=PROBE_TEMPLATE, env=STACK_ENV) as running:
        yield running


@pytest.fixture
def start_probe_stack() -> Callable[..., AbstractContextManager[RunningStack]]:
    """For a test that starts and leaves a stack of its own; keyword arguments are environment variables."""
    require_local_stack()
    return lambda **env: start_stack(template=PROBE_TEMPLATE, env={**STACK_ENV, **env})


@dataclass
class Aws:
    """boto3 clients bound to one running stack's emulators, with its resource names."""

    dynamodb: DynamoDBClient
    events: EventBridgeClient
    sqs: SQSClient
    endpoints: dict[str, object]

    @classmethod
    def of(cls, running: RunningStack) -> Aws:
        endpoints = running.endpoints()
        session = boto3.session.Session(
            aws_access_key_id="test", aws_secret_access_key="test", region_name=str(endpoints["region"])
        )
        return cls(
            dynamodb=session.client("dynamodb", endpoint_url=str(endpoints["dynamodb"])),
            events=session.client("events", endpoint_url=str(endpoints["events"])),
            sqs=session.client("sqs", endpoint_url=str(endpoints["sqs"])),
            endpoints=endpoints,
        )

    def name(self, kind: str, logical_id: str) -> str:
        """The physical name of a template resource (kind: tables, buses)."""
        names = self.endpoints[kind]
        assert isinstance(names, dict)
        return str(names[logical_id])

    def queue_url(self, logical_id: str) -> str:
        queues = self.endpoints["queues"]
        assert isinstance(queues, dict)
        return str(queues[logical_id]["url"])


@pytest.fixture(scope="session")
def stack_aws(stack: RunningStack) -> Aws:
    return Aws.of(stack)


@pytest.fixture(scope="session")
def probe_aws(probe_stack: RunningStack) -> Aws:
    return Aws.of(probe_stack)
