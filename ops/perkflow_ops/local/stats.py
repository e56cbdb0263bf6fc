"""Per-function counters for GET /_local/stats, and the botocore hooks that count AWS work in a worker.

A worker counts what its invocation did (DynamoDB calls, items and capacity units, events put, SQS and
Secrets Manager calls) and returns the counts with the result; the stack adds them up per function with the
invocation count, the SQS records it was handed, errors and duration. Items written are items a call
actually stored: a write refused by its condition counts as a call only. Capacity units are what DynamoDB
reports with ``ReturnConsumedCapacity=INDEXES`` (the counter asks for it on every call that takes it), the
table's and its indexes', transactional items counted twice as DynamoDB bills them (DynamoDB Local does not).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

COUNTERS = (
    "invocations",
    "errors",
    "ddb_calls",
    "ddb_items_read",
    "ddb_items_written",
    "ddb_read_units",
    "ddb_write_units",
    "events_put",
    "sqs_calls",
    "sqs_records",
    "secrets_calls",
    "duration_ms_total",
    "cpu_ms_total",
)

Counts = dict[str, float]

# The DynamoDB operations that take ReturnConsumedCapacity, and whether they read or write.
_CAPACITY = {
    **dict.fromkeys(("GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"), "ddb_read_units"),
    **dict.fromkeys(("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"), "ddb_write_units"),
}


class Stats:
    """Totals per function, safe to update from every request and poller thread."""

    def __init__(self, functions: list[str]) -> None:
        self._lock = threading.Lock()
        self._functions = list(functions)
        self._totals = self._zero()

    def _zero(self) -> dict[str, Counts]:
        return {name: dict.fromkeys(COUNTERS, 0) for name in self._functions}

    def add(self, function: str, counts: Mapping[str, float]) -> None:
        with self._lock:
            totals = self._totals[function]
            for name, value in counts.items():
                if name in totals:
                    totals[name] += value

    def snapshot(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {
                function: {
                    name: round(value, 3) if name.endswith(("_ms_total", "_units")) else int(value)
                    for name, value in counts.items()
                }
                for function, counts in self._totals.items()
            }

    def reset(self) -> None:
        with self._lock:
            self._totals = self._zero()


class AwsCallCounter:
    """botocore event handlers that count into ``counts`` (the current invocation's counters)."""

    def __init__(self) -> None:
        self.counts: Counts = {}

    def take(self) -> Counts:
        taken, self.counts = self.counts, {}
        return taken

    def _add(self, name: str, value: float) -> None:
        if value:
            self.counts[name] = self.counts.get(name, 0) + value

    def register(self, events: Any) -> None:
        """Attach to a botocore event system (boto3's default session's)."""
        events.register("provide-client-params.dynamodb", self._ask_for_capacity)
        events.register("after-call.dynamodb", self._after_dynamodb)
        events.register("after-call.sqs", self._after_call("sqs_calls"))
        events.register("after-call.secrets-manager", self._after_call("secrets_calls"))
        events.register("provide-client-params.eventbridge.PutEvents", self._remember_request)
        events.register("after-call.eventbridge.PutEvents", self._after_put_events)

    @staticmethod
    def _remember_request(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        # The request context travels from provide-client-params to after-call of the same call.
        context["perkflow_params"] = params

    @staticmethod
    def _ask_for_capacity(params: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any) -> Any:
        if model.name in _CAPACITY and "ReturnConsumedCapacity" not in params:
            params = {**params, "ReturnConsumedCapacity": "INDEXES"}
        context["perkflow_params"] = params
        return params  # the first answer of this event becomes the call's parameters

    def _after_call(self, counter: str) -> Any:
        def count(**_: Any) -> None:
            self._add(counter, 1)

        return count

    def _capacity(self, operation: str, parsed: Mapping[str, Any]) -> None:
        consumed = parsed.get("ConsumedCapacity") or []
        entries = consumed if isinstance(consumed, list) else [consumed]
        units = sum(float(entry.get("CapacityUnits", 0)) for entry in entries)
        self._add(_CAPACITY[operation], units * 2 if operation.startswith("Transact") else units)

    def _after_dynamodb(
        self, http_response: Any, parsed: Mapping[str, Any], model: Any, context: Mapping[str, Any], **_: Any
    ) -> None:
        self._add("ddb_calls", 1)
        if http_response.status_code >= 300:
            return
        operation = model.name
        params: Mapping[str, Any] = context.get("perkflow_params", {})
        if operation in _CAPACITY:
            self._capacity(operation, parsed)
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            self._add("ddb_items_written", 1)
        elif operation == "BatchWriteItem":
            sent = sum(len(requests) for requests in params.get("RequestItems", {}).values())
            unprocessed = sum(len(requests) for requests in (parsed.get("UnprocessedItems") or {}).values())
            self._add("ddb_items_written", sent - unprocessed)
        elif operation == "TransactWriteItems":
            actions = params.get("TransactItems", [])
            checks = sum(1 for action in actions if "ConditionCheck" in action)
            self._add("ddb_items_written", len(actions) - checks)
            self._add("ddb_items_read", checks)
        elif operation == "GetItem":
            self._add("ddb_items_read", 1 if parsed.get("Item") else 0)
        elif operation == "BatchGetItem":
            self._add("ddb_items_read", sum(len(items) for items in parsed.get("Responses", {}).values()))
        elif operation in ("Query", "Scan"):
            self._add("ddb_items_read", int(parsed.get("Count", 0)))
        elif operation == "TransactGetItems":
            self._add("ddb_items_read", sum(1 for response in parsed.get("Responses", []) if response.get("Item")))

    def _after_put_events(
        self, http_response: Any, parsed: Mapping[str, Any], context: Mapping[str, Any], **_: Any
    ) -> None:
        if http_response.status_code >= 300:
            return
        sent = len(context.get("perkflow_params", {}).get("Entries", []))
        self._add("events_put", sent - int(parsed.get("FailedEntryCount", 0)))
