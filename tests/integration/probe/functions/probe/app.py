"""The probe: records every trigger it receives in the table, so tests can see what the local stack sent.

HTTP (everything under /probe/):
- ``GET /probe/records/{kind}``: what was recorded (``bus``, ``schedule``, ``sqs``, ``sqs-failed``,
  ``stream``, ``stream-failed``).
- ``/probe/fail`` raises, ``/probe/sleep`` outlives the Timeout, ``/probe/pause`` takes half a second and
  names its process, ``/probe/plain`` answers without statusCode, ``/probe/binary`` answers base64,
  ``/probe/context`` shows the Lambda context, ``/probe/env`` a few variables, ``POST /probe/write`` writes
  and reads items and puts events (for the stats), ``POST /probe/out/{segment|klaviyo|webhook}`` posts its
  body to that destination's URL.
- any other path: the event itself, so tests can check the payload format 2.0.
SQS records whose body (or event detail) says ``"fail": true`` are reported as batch item failures; a
stream record of an item with ``fail`` fails once.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.request
import uuid
from typing import Any

from perkflow import clock, wiring
from perkflow.adapters import aws
from perkflow.domain.timeutil import iso


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    if event.get("version") == "2.0" and "routeKey" in event:
        return _http(event, context)
    if event.get("detail-type") == "Scheduled Event" and event.get("source") == "aws.events":
        _record("schedule", event)
        return {"fired_at": event["time"], "now": iso(clock.now())}
    if "detail-type" in event:
        _record("bus", event)
        return None
    records = event.get("Records") or []
    if records and records[0].get("eventSource") == "aws:sqs":
        return _sqs(records)
    if records and records[0].get("eventSource") == "aws:dynamodb":
        return _stream(records)
    raise ValueError("the probe does not know this event")


def _record(kind: str, data: Any) -> None:
    sort_key = f"{time.time_ns():020d}#{uuid.uuid4()}"
    wiring.table().put({"pk": f"PROBE#{kind}", "sk": sort_key, "data": json.dumps(data)})


def _recorded(kind: str) -> list[Any]:
    items = wiring.table().query_all("pk = :pk", {":pk": f"PROBE#{kind}"}, consistent=True)
    return [json.loads(item["data"]) for item in items]


def _sqs(records: list[dict[str, Any]]) -> dict[str, Any]:
    batch = [record["messageId"] for record in records]
    failures = []
    for record in records:
        body = json.loads(record["body"])
        fail = bool(body.get("fail") or body.get("detail", {}).get("fail"))
        seen = {
            "messageId": record["messageId"],
            "receiveCount": int(record["attributes"]["ApproximateReceiveCount"]),
            "batch": batch,
            "body": body,
            "record": record,
        }
        _record("sqs-failed" if fail else "sqs", seen)
        if fail:
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


def _stream(records: list[dict[str, Any]]) -> dict[str, Any]:
    """In order; an item with ``fail`` fails once, reported by its sequence number, so the retry starts there."""
    batch = [record["dynamodb"]["Keys"]["pk"]["S"] for record in records]
    for record in records:
        key = record["dynamodb"]["Keys"]["pk"]["S"]
        sequence = record["dynamodb"]["SequenceNumber"]
        wants_failure = record["dynamodb"]["NewImage"].get("fail", {}).get("BOOL", False)
        if wants_failure and not any(seen["pk"] == key for seen in _recorded("stream-failed")):
            _record("stream-failed", {"pk": key, "sequence": sequence, "batch": batch})
            return {"batchItemFailures": [{"itemIdentifier": sequence}]}
        _record("stream", {"pk": key, "sequence": sequence, "batch": batch, "record": record})
    return {"batchItemFailures": []}


def _http(event: dict[str, Any], context: Any) -> Any:
    path = event["rawPath"]
    if path.startswith("/probe/records/"):
        return _json(200, _recorded(event["pathParameters"]["kind"]))
    if path == "/probe/fail":
        raise RuntimeError("the probe was asked to fail")
    if path == "/probe/sleep":
        time.sleep(30)
    if path == "/probe/pause":
        time.sleep(0.5)
        return {"pid": os.getpid()}
    if path == "/probe/plain":
        return {"plain": True}
    if path == "/probe/binary":
        return {
            "statusCode": 200,
            "headers": {"content-type": "application/octet-stream"},
            "body": base64.b64encode(b"\x00\xffbinary").decode(),
            "isBase64Encoded": True,
            "cookies": ["a=1; Path=/", "b=2"],
        }
    if path == "/probe/context":
        return _json(
            200,
            {
                "function_name": context.function_name,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "invoked_function_arn": context.invoked_function_arn,
                "aws_request_id": context.aws_request_id,
                "remaining_ms": context.get_remaining_time_in_millis(),
            },
        )
    if path == "/probe/env":
        names = (
            "PROBE_QUEUE_URL",
            "PERKFLOW_TABLE_NAME",
            "PERKFLOW_BUS_NAME",
            "AWS_LAMBDA_FUNCTION_NAME",
            "AWS_REGION",
            "PERKFLOW_OUT_SEGMENT_URL",
            "PERKFLOW_OUT_WEBHOOK_URL",
            "PYTHONPATH",
        )
        return _json(200, {name: os.environ.get(name) for name in names})
    if path == "/probe/write":
        return _json(200, _write(json.loads(event.get("body") or "{}")))
    if path.startswith("/probe/out/"):
        destination = path.removeprefix("/probe/out/")
        url = os.environ[f"PERKFLOW_OUT_{destination.upper()}_URL"]
        request = urllib.request.Request(
            url + "/probe",
            data=(event.get("body") or "").encode(),
            method="POST",
            headers={"Content-Type": "application/json", "X-Probe": "yes"},
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            return _json(200, {"status": answer.status})
    return _json(200, {"event": event})


def _write(body: dict[str, Any]) -> dict[str, Any]:
    """Known amounts of work for the stats: N puts, one hit and one miss, one event put."""
    table = wiring.table()
    count = int(body.get("items", 1))
    for index in range(count):
        table.put({"pk": "PROBE#write", "sk": f"{index}"})
    found = table.get({"pk": "PROBE#write", "sk": "0"})
    missing = table.get({"pk": "PROBE#write", "sk": "none"})
    aws.events().put_events(
        Entries=[
            {
                "Source": "probe.write",
                "DetailType": "probe.written",
                "Detail": json.dumps({"items": count}),
                "EventBusName": os.environ["PERKFLOW_BUS_NAME"],
            }
        ]
    )
    return {"written": count, "found": found is not None, "missing": missing is None}


def _json(status: int, body: Any) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}
