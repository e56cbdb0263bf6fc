"""The stock Voucherify SDK (@voucherify/sdk 2.9.0) drives the promotion story against the local stack.

Two runs of tests/compat/voucherify_story.mjs:
- with perkflow's own segments (``segments.create``, real-time entry on ``review_left``, the distribution);
- with the segment played by this test (a static segment holding Michael, and the ``customer.segment.entered``
  a computed segment would announce, put on the bus), so the promotion side is proven on its own.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from perkflow.domain.customers import customer_id_for
from perkflow_ops.local.harness import RunningStack, start_stack
from perkflow_ops.template import ROOT
from tests.stack_fixtures import STACK_ENV, Aws, require_local_stack

pytestmark = pytest.mark.compat
SCRIPT = "tests/compat/voucherify_story.mjs"


@pytest.fixture(scope="module")
def story_stack() -> Iterator[RunningStack]:
    """A stack of its own: the story's "Reviewers" segment and its distribution would otherwise hand a gift card
    to every customer that any other test makes leave a review."""
    require_local_stack()
    with start_stack(env=STACK_ENV) as running:
        yield running


def _require_sdk() -> None:
    if shutil.which("node") is None or not (ROOT / "node_modules" / "@voucherify" / "sdk").exists():
        pytest.skip("node or @voucherify/sdk is not installed (make setup installs it)")


def _run(stack: RunningStack, run: str, *arguments: str) -> Any:
    credentials = stack.credentials
    done = subprocess.run(
        ["node", SCRIPT, stack.url, credentials["PERKFLOW_APP_ID"], credentials["PERKFLOW_APP_TOKEN"], run, *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr or done.stdout
    return json.loads(done.stdout.strip().splitlines()[-1])


def _static_segment(stack: RunningStack, source_id: str, run: str) -> str:
    """Michael in a segment of the caller's making: a static one, kept by the segments capability."""
    headers = {"X-App-Id": stack.credentials["PERKFLOW_APP_ID"], "X-App-Token": stack.credentials["PERKFLOW_APP_TOKEN"]}
    customer_id = customer_id_for(source_id)
    stack.request("POST", "/v1/customers", json={"source_id": source_id}, headers=headers)
    body = {"name": f"Reviewers {run}", "type": "static", "customers": [customer_id]}
    created = stack.request("POST", "/v1/segments", json=body, headers=headers)
    assert created.status == 200, created.body
    segment_id = str(created.json()["id"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = stack.request("GET", f"/v1/customers/{customer_id}/segments", headers=headers).json()
        if any(entry["id"] == segment_id for entry in listed["data"]):
            return segment_id
        time.sleep(0.2)
    raise AssertionError("Michael never showed in the static segment")


def _announce_entry(aws: Aws, source_id: str, segment_id: str, run: str) -> None:
    """The ``customer.segment.entered`` a computed segment announces (a static list announces none)."""
    customer_id = customer_id_for(source_id)
    detail = {
        "event_id": f"evt_entered_{run}",
        "version": 1,
        "occurred_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "customer": {"id": customer_id, "source_id": source_id},
        "segment": {"id": segment_id, "name": "Reviewers"},
    }
    aws.events.put_events(
        Entries=[
            {
                "Source": "perkflow.segments",
                "DetailType": "customer.segment.entered",
                "Detail": json.dumps(detail),
                "EventBusName": aws.name("buses", "Bus"),
            }
        ]
    )


def test_sdk_story_with_the_segment_entry_announced_as_segments_does(story_stack: RunningStack) -> None:
    _require_sdk()
    run = uuid.uuid4().hex[:8]
    michael = f"michael.scott-{run}"
    segment_id = _static_segment(story_stack, michael, run)

    state = _run(story_stack, run, "setup", "external", segment_id)
    _announce_entry(Aws.of(story_stack), michael, segment_id, run)
    result = _run(story_stack, run, "checkout", json.dumps(state))

    assert result["code"].startswith("GIFT-")
    assert result["redemption"].startswith("r_")


def test_sdk_story_end_to_end_with_perkflow_segments(story_stack: RunningStack) -> None:
    _require_sdk()
    run = uuid.uuid4().hex[:8]

    state = _run(story_stack, run, "setup", "real")
    result = _run(story_stack, run, "checkout", json.dumps(state))

    assert result["code"].startswith("GIFT-")
