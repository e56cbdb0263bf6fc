"""The concurrency tier runs on a stack of its own: its parallel requests create many customers and codes that
would otherwise slow down whole-base work (segment backfills) of the tests sharing the session's stack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from perkflow_ops.local.harness import RunningStack, start_stack
from tests.stack_fixtures import STACK_ENV, Aws, require_local_stack


@pytest.fixture(scope="package")
def race_stack() -> Iterator[RunningStack]:
    require_local_stack()
    with start_stack(env=STACK_ENV) as running:
        yield running


@pytest.fixture(scope="package")
def race_aws(race_stack: RunningStack) -> Aws:
    return Aws.of(race_stack)
