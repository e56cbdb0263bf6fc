"""The local stack, through its HTTP front door and its emulators, as a developer and the tests use it.

Against the repository's template (``stack``): /health without auth, the local clock, the $default route,
and the outbox travelling from a stored item through the stream and the publisher to the bus. Against the
probe template (``probe_stack``): API Gateway routing and payload format, Lambda context and environment,
bus delivery in the AWS envelope, an AWS::Events::Rule feeding a queue, SQS partial batch failures and the
DLQ, schedules on demand, outbound sinks, stats, and that leaving the harness stops every process.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from perkflow_ops.local.credentials import NAMES
from perkflow_ops.local.harness import RunningStack
from perkflow_ops.local.schedules import Cron, Schedule, kebab
from tests.stack_fixtures import Aws

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

pytestmark = pytest.mark.integration

T = TypeVar("T")
ENVELOPE_KEYS = ["version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"]


def eventually(probe: Callable[[], T | None], timeout: float = 15, what: str = "the condition") -> T:
    """Poll until ``probe`` returns something truthy (deliveries are asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.1)


def records(stack: RunningStack, kind: str) -> list[dict[str, Any]]:
    response = stack.request("GET", f"/probe/records/{kind}")
    assert response.status == 200
    found: list[dict[str, Any]] = response.json()
    return found


# -- the repository's template ----------------------------------------------------------------------------


def test_ready_output_carries_every_setting(stack: RunningStack) -> None:
    assert list(stack.credentials) == list(NAMES)
    assert stack.url == f"http://127.0.0.1:{stack.credentials['PERKFLOW_PORT']}"
    expected_id = os.environ.get("PERKFLOW_APP_ID") or "app_local"
    assert stack.credentials["PERKFLOW_APP_ID"] == expected_id
    assert len(stack.credentials["PERKFLOW_APP_TOKEN"]) >= 16


def test_health_needs_no_credentials(stack: RunningStack) -> None:
    response = stack.request("GET", "/health")

    assert response.status == 200
    assert response.json()["status"] == "ok"


def test_clock_freezes_advances_and_returns_to_real_time(stack: RunningStack) -> None:
    try:
        assert stack.clock(now="2030-01-01T00:00:00Z") == {"now": "2030-01-01T00:00:00.000Z", "frozen": True}
        assert stack.request("GET", "/health").json()["now"] == "2030-01-01T00:00:00.000Z"

        assert stack.clock(advance_seconds=90)["now"] == "2030-01-01T00:01:30.000Z"
        assert stack.request("GET", "/health").json()["now"] == "2030-01-01T00:01:30.000Z"

        back = stack.clock()
        assert back["frozen"] is False
        reported = datetime.fromisoformat(stack.request("GET", "/health").json()["now"].replace("Z", "+00:00"))
        assert abs((reported - datetime.now(UTC)).total_seconds()) < 5
    finally:
        stack.clock()


def test_clock_moves_real_time_by_an_offset(stack: RunningStack) -> None:
    try:
        stack.clock(advance_seconds=86400)
        reported = datetime.fromisoformat(stack.request("GET", "/health").json()["now"].replace("Z", "+00:00"))
        assert abs((reported - datetime.now(UTC)).total_seconds() - 86400) < 5
    finally:
        stack.clock()


def test_a_malformed_clock_body_is_refused(stack: RunningStack) -> None:
    assert stack.request("POST", "/_local/clock", json={"now": "not a time"}).status == 400
    assert stack.request("POST", "/_local/clock", json={"advance_seconds": "60"}).status == 400


def test_an_unknown_path_reaches_the_default_route(stack: RunningStack) -> None:
    credentials = {
        "X-App-Id": stack.credentials["PERKFLOW_APP_ID"],
        "X-App-Token": stack.credentials["PERKFLOW_APP_TOKEN"],
    }

    response = stack.request("GET", "/v1/nothing-here", headers=credentials)

    assert response.status == 404
    assert response.json()["key"] == "not_found"


def test_an_outbox_stored_with_an_item_reaches_the_bus_through_the_publisher(
    stack: RunningStack, stack_aws: Aws
) -> None:
    event_id = f"evt_{uuid.uuid4().hex}"
    entry = {
        "source": "perkflow.api",
        "detail_type": "customer.created",
        "detail": {
            "event_id": event_id,
            "version": 1,
            "occurred_at": "2030-01-01T00:00:00.000Z",
            "customer": {"id": "cust_integration"},
        },
    }

    stack_aws.dynamodb.put_item(
        TableName=stack_aws.name("tables", "Table"),
        Item={
            "pk": {"S": f"TEST#{event_id}"},
            "sk": {"S": "ITEM"},
            "outbox": {"S": json.dumps([entry])},
        },
    )

    def published() -> dict[str, Any] | None:
        return next((seen for seen in stack.events() if seen["event"]["detail"].get("event_id") == event_id), None)

    seen = eventually(published, what="the stored event to appear on the bus")
    assert seen["bus"] == stack_aws.name("buses", "Bus")
    assert list(seen["event"]) == ENVELOPE_KEYS
    assert seen["event"]["source"] == "perkflow.api"
    assert seen["event"]["detail-type"] == "customer.created"
    assert seen["event"]["account"] == "123456789012"
    assert stack.stats()["publisher"]["events_put"] >= 1


# -- the probe template: counters first, before any asynchronous delivery runs in the background -------------


def test_stats_count_invocations_and_the_aws_work_done(probe_stack: RunningStack) -> None:
    probe_stack.reset_stats()

    response = probe_stack.request("POST", "/probe/write", json={"items": 3})

    assert response.json() == {"written": 3, "found": True, "missing": True}
    counted = probe_stack.stats()["probe"]
    assert counted["invocations"] == 1
    assert counted["errors"] == 0
    assert counted["ddb_calls"] == 5  # three puts, two gets
    assert counted["ddb_items_written"] == 3
    assert counted["ddb_items_read"] == 1  # the get that found its item
    assert counted["ddb_write_units"] == 3  # small items: one unit each, as DynamoDB reports them
    assert counted["ddb_read_units"] == 1  # two eventually consistent gets, found or not: half a unit each
    assert counted["events_put"] == 1
    assert counted["duration_ms_total"] > 0
    assert probe_stack.reset_stats()["probe"]["invocations"] == 0


def test_each_function_runs_in_its_own_pool_of_worker_processes(probe_stack: RunningStack) -> None:
    def pause(_: int) -> int:
        pid: int = probe_stack.request("GET", "/probe/pause").json()["pid"]
        return pid

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as clients:
        pids = list(clients.map(pause, range(8)))

    assert len(set(pids)) == 4  # all busy: the pool grew to $PERKFLOW_LOCAL_WORKERS (default 4), no further
    assert time.monotonic() - started < 8 * 0.5  # in parallel, not one after the other


def test_routes_follow_api_gateway_precedence(probe_stack: RunningStack) -> None:
    def route(method: str, path: str) -> tuple[str, Any]:
        event = probe_stack.request(method, path).json()["event"]
        return event["routeKey"], event.get("pathParameters")

    assert route("GET", "/probe/items/special") == ("GET /probe/items/special", None)
    assert route("GET", "/probe/items/42") == ("GET /probe/items/{id}", {"id": "42"})
    assert route("POST", "/probe/items/42") == ("ANY /probe/{proxy+}", {"proxy": "items/42"})
    assert route("DELETE", "/probe/a/b/c") == ("ANY /probe/{proxy+}", {"proxy": "a/b/c"})


def test_without_a_default_route_unknown_paths_get_api_gateways_404(probe_stack: RunningStack) -> None:
    for path in ("/elsewhere", "/probe"):  # a greedy variable needs at least one segment
        response = probe_stack.request("GET", path)
        assert response.status == 404
        assert response.json() == {"message": "Not Found"}


def test_http_event_is_payload_format_2(probe_stack: RunningStack) -> None:
    connection = http.client.HTTPConnection(probe_stack.url.removeprefix("http://"), timeout=10)
    body = json.dumps({"text": "héllo"}).encode()
    connection.putrequest("PUT", "/probe/echo?tag=a&tag=b&empty=")
    for name, value in [
        ("X-Multi", "one"),
        ("X-Multi", "two"),
        ("Cookie", "c1=1; c2=2"),
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
    ]:
        connection.putheader(name, value)
    connection.endheaders(body)
    event = json.loads(connection.getresponse().read())["event"]
    connection.close()

    assert event["version"] == "2.0"
    assert event["routeKey"] == "ANY /probe/{proxy+}"
    assert event["rawPath"] == "/probe/echo"
    assert event["rawQueryString"] == "tag=a&tag=b&empty="
    assert event["queryStringParameters"] == {"tag": "a,b", "empty": ""}
    assert event["headers"]["x-multi"] == "one,two"
    assert event["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert "cookie" not in event["headers"]
    assert event["cookies"] == ["c1=1", "c2=2"]
    assert event["body"] == body.decode()
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["http"]["method"] == "PUT"
    assert context["http"]["path"] == "/probe/echo"
    assert context["http"]["sourceIp"] == "127.0.0.1"
    assert context["stage"] == "$default"
    assert context["routeKey"] == "ANY /probe/{proxy+}"
    assert context["accountId"] == "123456789012"
    assert {"apiId", "domainName", "requestId", "time", "timeEpoch"} <= set(context)


def test_compressed_and_binary_bodies_arrive_base64_encoded(probe_stack: RunningStack) -> None:
    compressed = gzip.compress(b'{"batch": []}')
    gzipped = probe_stack.request(
        "POST", "/probe/echo", body=compressed, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
    )
    binary = probe_stack.request("POST", "/probe/echo", body=b"\xff\x00\xfe")

    assert gzipped.json()["event"]["isBase64Encoded"] is True
    assert base64.b64decode(gzipped.json()["event"]["body"]) == compressed
    assert binary.json()["event"]["isBase64Encoded"] is True
    assert base64.b64decode(binary.json()["event"]["body"]) == b"\xff\x00\xfe"


def test_results_map_back_as_api_gateway_maps_them(probe_stack: RunningStack) -> None:
    plain = probe_stack.request("GET", "/probe/plain")
    assert (plain.status, plain.json()) == (200, {"plain": True})
    assert plain.headers["Content-Type"] == "application/json"

    binary = probe_stack.request("GET", "/probe/binary")
    assert binary.body == b"\x00\xffbinary"
    assert binary.headers.get_all("Set-Cookie") == ["a=1; Path=/", "b=2"]

    failed = probe_stack.request("GET", "/probe/fail")
    assert (failed.status, failed.json()) == (500, {"message": "Internal Server Error"})

    started = time.monotonic()
    slow = probe_stack.request("GET", "/probe/sleep")
    assert (slow.status, slow.json()) == (503, {"message": "Service Unavailable"})
    assert time.monotonic() - started < 10  # cut at the function's Timeout (3 s), not the 30 s it sleeps


def test_functions_get_a_lambda_context_and_the_templates_environment(
    probe_stack: RunningStack, probe_aws: Aws
) -> None:
    context = probe_stack.request("GET", "/probe/context").json()
    env = probe_stack.request("GET", "/probe/env").json()

    assert context["function_name"] == "perkflow-local-ProbeFunction"
    assert context["memory_limit_in_mb"] == 256
    assert context["invoked_function_arn"].endswith(":function:perkflow-local-ProbeFunction")
    assert 0 < context["remaining_ms"] <= 3000
    assert env["PROBE_QUEUE_URL"] == probe_aws.queue_url("ProbeQueue")
    assert env["PERKFLOW_TABLE_NAME"] == probe_aws.name("tables", "Table")
    assert env["PERKFLOW_BUS_NAME"] == probe_aws.name("buses", "Bus")
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "perkflow-local-ProbeFunction"
    assert env["PYTHONPATH"] is None


def test_outbound_urls_point_at_the_local_sinks(probe_stack: RunningStack) -> None:
    marker = uuid.uuid4().hex

    response = probe_stack.request("POST", "/probe/out/webhook", json={"marker": marker})

    assert response.json() == {"status": 200}
    received = [request for request in probe_stack.sinks()["webhook"] if request["body"] == {"marker": marker}]
    assert len(received) == 1
    assert received[0]["method"] == "POST"
    assert received[0]["path"] == "/probe"
    assert received[0]["headers"]["x-probe"] == "yes"
    assert set(probe_stack.sinks()) == {"segment", "klaviyo", "webhook"}


def test_a_bus_event_reaches_its_lambda_target_in_the_aws_envelope(probe_stack: RunningStack, probe_aws: Aws) -> None:
    marker = uuid.uuid4().hex
    bus = probe_aws.name("buses", "Bus")

    put = probe_aws.events.put_events(
        Entries=[
            {
                "Source": "probe.test",
                "DetailType": "probe.ping.v1",
                "Detail": json.dumps({"marker": marker}),
                "EventBusName": bus,
            },
            {
                "Source": "probe.other",
                "DetailType": "probe.ping.v1",
                "Detail": json.dumps({"marker": marker}),
                "EventBusName": bus,
            },
        ]
    )

    def delivered() -> list[dict[str, Any]]:
        return [event for event in records(probe_stack, "bus") if event["detail"].get("marker") == marker]

    envelope = eventually(delivered, what="the event to reach the probe")[0]
    assert list(envelope) == ENVELOPE_KEYS
    assert envelope["id"] == put["Entries"][0]["EventId"]
    assert envelope["account"] == "123456789012"
    assert envelope["region"] == "us-east-1"
    assert envelope["source"] == "probe.test"
    assert envelope["detail"] == {"marker": marker}
    unmatched = [seen for seen in probe_stack.events() if seen["event"]["id"] == put["Entries"][1]["EventId"]]
    assert unmatched
    assert unmatched[0]["rules"] == []
    assert len(delivered()) == 1


def test_an_events_rule_routes_its_detail_type_to_the_queue(probe_stack: RunningStack, probe_aws: Aws) -> None:
    marker = uuid.uuid4().hex

    probe_aws.events.put_events(
        Entries=[
            {
                "Source": "probe.test",
                "DetailType": "probe.queued",
                "Detail": json.dumps({"marker": marker}),
                "EventBusName": probe_aws.name("buses", "Bus"),
            }
        ]
    )

    def consumed() -> list[dict[str, Any]]:
        return [seen for seen in records(probe_stack, "sqs") if seen["body"].get("detail", {}).get("marker") == marker]

    body = eventually(consumed, what="the queued event to reach the probe")[0]["body"]
    assert list(body) == ENVELOPE_KEYS
    assert body["account"] == "123456789012"
    assert body["detail-type"] == "probe.queued"


def test_sqs_partial_batch_failure_redelivers_only_the_failed_record(probe_stack: RunningStack, probe_aws: Aws) -> None:
    run = uuid.uuid4().hex
    queue = probe_aws.queue_url("ProbeQueue")
    records_before = probe_stack.stats()["probe"]["sqs_records"]

    probe_aws.sqs.send_message_batch(
        QueueUrl=queue,
        Entries=[
            {"Id": "first", "MessageBody": json.dumps({"run": run, "n": 1})},
            {"Id": "failing", "MessageBody": json.dumps({"run": run, "n": 2, "fail": True})},
            {"Id": "last", "MessageBody": json.dumps({"run": run, "n": 3})},
        ],
    )

    def of_run(kind: str) -> list[dict[str, Any]]:
        return [seen for seen in records(probe_stack, kind) if seen["body"].get("run") == run]

    def both_attempts() -> list[dict[str, Any]] | None:
        found = of_run("sqs-failed")
        return found if len(found) == 2 else None

    attempts = eventually(both_attempts, what="the failing record to be received twice")
    assert [attempt["receiveCount"] for attempt in attempts] == [1, 2]
    assert len(attempts[0]["batch"]) == 3  # one batch: the failure was reported inside it
    assert attempts[1]["batch"] == [attempts[0]["messageId"]]  # redelivered alone

    def dead_lettered() -> list[str]:
        received = probe_aws.sqs.receive_message(
            QueueUrl=probe_aws.queue_url("ProbeDLQ"), WaitTimeSeconds=1, MaxNumberOfMessages=10
        ).get("Messages", [])
        return [message["Body"] for message in received if json.loads(message["Body"]).get("run") == run]

    assert json.loads(eventually(dead_lettered, what="the failed record to reach the DLQ")[0])["n"] == 2
    succeeded = of_run("sqs")
    assert sorted(seen["body"]["n"] for seen in succeeded) == [1, 3]
    assert all(seen["receiveCount"] == 1 for seen in succeeded)
    # The stats count every record handed over: the batch of three and the failure's redelivery.
    assert probe_stack.stats()["probe"]["sqs_records"] - records_before >= 4

    record = succeeded[0]["record"]
    assert set(record) >= {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(":perkflow-local-ProbeQueue")
    assert {"ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(
        record["attributes"]
    )


def test_stream_records_arrive_in_order_and_retry_from_the_reported_failure(
    probe_stack: RunningStack, probe_aws: Aws
) -> None:
    run = uuid.uuid4().hex
    keys = [f"STREAM#{run}#{n}" for n in (1, 2, 3)]
    table = probe_aws.name("tables", "Table")

    for key in keys:
        item: dict[str, Any] = {"pk": {"S": key}, "sk": {"S": "ITEM"}}
        if key.endswith("#2"):
            item["fail"] = {"BOOL": True}
        probe_aws.dynamodb.put_item(TableName=table, Item=item)

    def of_run(kind: str) -> list[dict[str, Any]]:
        return [seen for seen in records(probe_stack, kind) if seen["pk"].startswith(f"STREAM#{run}#")]

    def all_three() -> list[dict[str, Any]] | None:
        found = of_run("stream")
        return found if len(found) == 3 else None

    processed = eventually(all_three, what="the three stream records to be processed")
    assert [seen["pk"] for seen in processed] == keys  # in order, each once
    failed = of_run("stream-failed")
    assert [seen["pk"] for seen in failed] == [keys[1]]
    assert processed[1]["batch"][0] == keys[1]  # the retry started at the reported record
    assert processed[1]["sequence"] == failed[0]["sequence"]

    record = processed[0]["record"]
    assert record["eventSource"] == "aws:dynamodb"
    assert record["eventName"] == "INSERT"
    assert record["awsRegion"] == "us-east-1"
    streams = probe_aws.endpoints["streams"]
    assert isinstance(streams, dict)
    assert record["eventSourceARN"] == streams["Table"]
    assert {"ApproximateCreationDateTime", "Keys", "NewImage", "SequenceNumber", "SizeBytes", "StreamViewType"} <= set(
        record["dynamodb"]
    )
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int | float)
    # The filter kept the probe's own records (PROBE#...) away from it.
    assert all(seen["pk"].startswith("STREAM#") for seen in records(probe_stack, "stream"))


def test_a_schedule_fires_on_demand_with_the_local_clocks_time(probe_stack: RunningStack) -> None:
    try:
        probe_stack.clock(now="2031-05-05T10:00:00Z")

        response = probe_stack.fire("probe-tick")

        assert response.status == 200
        assert response.json() == {"fired_at": "2031-05-05T10:00:00Z", "now": "2031-05-05T10:00:00.000Z"}
    finally:
        probe_stack.clock()
    envelope = next(event for event in records(probe_stack, "schedule") if event["time"] == "2031-05-05T10:00:00Z")
    assert list(envelope) == ENVELOPE_KEYS
    assert envelope["source"] == "aws.events"
    assert envelope["detail-type"] == "Scheduled Event"
    assert envelope["account"] == "123456789012"
    assert envelope["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/perkflow-local-ProbeFunctionProbeTick"]
    assert envelope["detail"] == {}


def test_an_unknown_schedule_is_404(probe_stack: RunningStack) -> None:
    response = probe_stack.fire("no-such-schedule")

    assert response.status == 404
    assert response.json()["schedules"] == ["probe-tick"]


def test_settings_from_the_environment_win_and_leaving_stops_every_process(
    start_probe_stack: Callable[..., AbstractContextManager[RunningStack]],
) -> None:
    segment = "http://127.0.0.1:9/segment"
    settings = {"PERKFLOW_APP_ID": "app_from_env", "PERKFLOW_OUT_SEGMENT_URL": segment, "PERKFLOW_LOCAL_STREAMS": "off"}
    with start_probe_stack(**settings) as running:
        env = running.request("GET", "/probe/env").json()  # a worker is running too
        group = running.process.pid
        aws = Aws.of(running)
        key = f"STREAM#{uuid.uuid4().hex}#1"
        aws.dynamodb.put_item(TableName=aws.name("tables", "Table"), Item={"pk": {"S": key}, "sk": {"S": "ITEM"}})
        time.sleep(3)  # streams on, the probe records such an item within a second
        streamed = [seen for seen in records(running, "stream") if seen["pk"] == key]

    assert running.credentials["PERKFLOW_APP_ID"] == "app_from_env"
    assert env["PERKFLOW_OUT_SEGMENT_URL"] == segment
    assert env["PERKFLOW_OUT_WEBHOOK_URL"].startswith("http://127.0.0.1:")  # unset: the local sink
    assert streamed == []  # PERKFLOW_LOCAL_STREAMS=off: nothing reads the table's streams

    with pytest.raises(ProcessLookupError):
        os.killpg(group, 0)


def test_schedule_names_and_expressions() -> None:
    assert kebab("SegmentsSweep") == "segments-sweep"
    assert kebab("LoyaltyHourly") == "loyalty-hourly"
    assert kebab("ProbeTick") == "probe-tick"
    saturday = datetime(2030, 1, 5, 10, 0, tzinfo=UTC)
    assert Cron("0 3 ? * MON-FRI *").next_after(saturday) == datetime(2030, 1, 7, 3, 0, tzinfo=UTC)
    assert Cron("*/15 * * * ? *").next_after(saturday + timedelta(minutes=7)) == saturday + timedelta(minutes=15)
    assert Cron("0 0 1 JAN ? 2031").next_after(saturday) == datetime(2031, 1, 1, tzinfo=UTC)
    every_five = Schedule("tick", "Fn", "rate(5 minutes)", True, "arn")
    assert every_five.next_after(saturday + timedelta(minutes=7), saturday) == saturday + timedelta(minutes=10)
    with pytest.raises(ValueError, match="not supported"):
        Cron("0 0 L * ? *")


def test_the_api_documentation_is_served_with_the_pinned_swagger_ui(probe_stack: RunningStack) -> None:
    page = probe_stack.request("GET", "/_local/docs")
    script = probe_stack.request("GET", "/_local/docs/swagger-ui-bundle.js")
    document = probe_stack.request("GET", "/_local/openapi.json")

    assert page.status == 200
    assert b'url: "/_local/openapi.json"' in page.body
    assert script.status == 200
    assert b"SwaggerUIBundle" in script.body
    assert document.status == 200
    assert document.json()["info"]["title"] == "perkflow API"
    assert probe_stack.request("GET", "/_local/docs/../../package.json").status == 404
