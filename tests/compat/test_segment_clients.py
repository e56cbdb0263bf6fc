"""Stock Segment clients pointed at perkflow: their messages are read back exactly once, replays included."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from typing import Any

import pytest

from perkflow_ops.local.harness import RunningStack
from perkflow_ops.template import ROOT

pytestmark = pytest.mark.compat


def api(stack: RunningStack, path: str) -> Any:
    headers = {"X-App-Id": stack.credentials["PERKFLOW_APP_ID"], "X-App-Token": stack.credentials["PERKFLOW_APP_TOKEN"]}
    response = stack.request("GET", path, headers=headers)
    assert response.status == 200, (path, response.body)
    return response.json()


def custom_events(stack: RunningStack, source_id: str) -> list[tuple[str, str]]:
    page = api(stack, f"/v1/customers/{source_id}/activity?limit=100&type=customer.custom_event")
    return sorted((item["data"]["event"]["type"], item["data"]["event"]["message_id"]) for item in page["data"])


def test_analytics_node_identify_and_track_arrive_exactly_once(stack: RunningStack) -> None:
    if shutil.which("node") is None or not (ROOT / "node_modules" / "@segment" / "analytics-node").exists():
        pytest.skip("node or @segment/analytics-node is not installed (make setup installs it)")
    run = uuid.uuid4().hex[:8]

    sent = subprocess.run(
        ["node", "tests/compat/segment_node.mjs", stack.url, stack.credentials["PERKFLOW_WRITE_KEY"], run],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert sent.returncode == 0, sent.stderr
    customer = api(stack, f"/v1/customers/node-{run}")
    assert customer["email"] == f"node-{run}@example.com"
    assert customer["metadata"] == {"plan": "gold"}
    assert custom_events(stack, f"node-{run}") == [
        ("Order Completed", f"{run}-order"),
        ("review_left", f"{run}-review"),
    ]


def test_analytics_python_with_gzip_arrives_exactly_once(stack: RunningStack) -> None:
    from segment.analytics import Client

    run = uuid.uuid4().hex[:8]
    user = f"python-{run}"
    errors: list[Any] = []
    client = Client(
        stack.credentials["PERKFLOW_WRITE_KEY"], host=stack.url, gzip=True, max_retries=2,
        on_error=lambda error, batch: errors.append(error),
    )  # fmt: skip
    for _ in range(2):
        client.identify(user, {"email": f"{user}@example.com", "firstName": "Py", "lastName": "Thon"},
                        message_id=f"{run}-identify")  # fmt: skip
        client.track(user, "Order Completed", {"order_id": f"ord-{run}", "total": 10}, message_id=f"{run}-order")
        client.flush()
    client.shutdown()

    assert errors == []
    customer = api(stack, f"/v1/customers/{user}")
    assert customer["name"] == "Py Thon"
    assert custom_events(stack, user) == [("Order Completed", f"{run}-order")]
    schema = api(stack, "/v1/event-schema/Order%20Completed")
    assert schema["properties"]["order_id"]["types"] == ["string"]
