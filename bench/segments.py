"""Segment figures on the local stack (reference/perf.md):

- ``pipeline_items_per_event``: DynamoDB items read + written by every function per ``track`` that updates a
  segment's condition state without changing membership or publishing (standard batches of 100 from 50
  customers, the pipeline left to drain).
- ``segments_items_ratio_1000_defs`` / ``segments_cpu_ratio_1000_defs``: the segments function's items and
  CPU per event with 1,000 definitions (one relevant) / with 1.
- ``segments_items_ratio_100k_customers`` / ``segments_cpu_ratio_100k_customers``: the same with 100,000
  customers (seeded with BatchWriteItem) / with 1,000.

The relevant segment counts ``Product Viewed`` all time against a bar no customer reaches, so every event
changes condition state and none changes membership. Seeded definitions and customers go straight into the
table (BatchWriteItem), as the reference bars say; the definitions' version is bumped so caches reload.
"""

from __future__ import annotations

import base64
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import boto3

from perkflow.adapters.customers import customer_listing_partition
from perkflow.domain.customers import customer_id_for
from perkflow.domain.segments.catalogue import SegmentRecord
from perkflow.domain.segments.definition import parse_node
from perkflow_ops.local.harness import RunningStack

EVENT = "Product Viewed"
CUSTOMERS = 50
BATCH = 100
RUNS = 3
PIPELINE = ("ingest", "segments", "loyalty", "distribution", "publisher")


class Bench:
    def __init__(self, stack: RunningStack) -> None:
        self.stack = stack
        endpoints = stack.endpoints()
        self.table = str(endpoints["tables"]["Table"])
        self.ddb = boto3.client(
            "dynamodb", endpoint_url=str(endpoints["dynamodb"]), region_name=str(endpoints["region"]),
            aws_access_key_id="bench", aws_secret_access_key="bench",
        )  # fmt: skip
        token = base64.b64encode(f"{stack.credentials['PERKFLOW_WRITE_KEY']}:".encode()).decode()
        self.ingest_headers = {"Authorization": f"Basic {token}"}

    def create_segment(self, name: str, definition: dict[str, Any]) -> str:
        segment_id = str(self.stack.api("POST", "/v1/segments", {"name": name, "definition": definition})["id"])
        self.wait(lambda: self.stack.api("GET", f"/v1/segments/{segment_id}")["initial_sync_status"] == "DONE")
        return segment_id

    def send(self, users: list[str], count: int, tag: str) -> None:
        messages = [
            {"type": "track", "userId": users[index % len(users)], "event": EVENT, "messageId": f"{tag}-{index}",
             "properties": {"product_id": f"SKU-{index % 97}"}}
            for index in range(count)
        ]  # fmt: skip
        batches = [messages[start : start + BATCH] for start in range(0, count, BATCH)]

        def post(batch: list[dict[str, Any]]) -> None:
            response = self.stack.request("POST", "/v1/batch", json={"batch": batch}, headers=self.ingest_headers)
            assert response.status == 200, response.body

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(post, batches))

    def drain(self, quiet: float = 3.0, timeout: float = 300) -> dict[str, dict[str, float]]:
        """Stats once the pipeline has been quiet for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        last, since = self.stack.stats(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = self.stack.stats()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return now
        raise RuntimeError("the pipeline did not drain")

    @staticmethod
    def wait(probe: Any, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not probe():
            if time.monotonic() > deadline:
                raise RuntimeError("timed out")
            time.sleep(0.5)

    def per_event(self, users: list[str], count: int) -> tuple[float, float, float]:
        """(all functions' items, segments items, segments CPU ms) per event, after a warm-up round."""
        self.send(users, len(users), f"warm-{uuid.uuid4().hex[:6]}")
        self.drain()
        self.stack.reset_stats()
        self.send(users, count, f"run-{uuid.uuid4().hex[:6]}")
        stats = self.drain()
        pipeline = sum(
            stats.get(name, {}).get("ddb_items_read", 0) + stats.get(name, {}).get("ddb_items_written", 0)
            for name in PIPELINE
        )
        segments = stats.get("segments", {})
        items = segments.get("ddb_items_read", 0) + segments.get("ddb_items_written", 0)
        return pipeline / count, items / count, segments.get("cpu_ms_total", 0) / count

    def seed_definitions(self, count: int) -> None:
        now = datetime.now(UTC)
        items = []
        for index in range(count):
            record = SegmentRecord(
                id=f"seg_bench{index:06d}", name=f"bench {index}", type="passive", created_at=now,
                definition=parse_node({"type": "event_count", "event": f"bench_event_{index}",
                                       "window": {"kind": "all_time"}, "op": "gte", "value": 1}),
            )  # fmt: skip
            items.append(
                {"pk": {"S": "SEGDEF"}, "sk": {"S": f"SEG#{record.id}"}, "segment": {"S": record.model_dump_json()}}
            )
        self._batch_write(items)
        self.ddb.update_item(
            TableName=self.table, Key={"pk": {"S": "SEGDEF"}, "sk": {"S": "VERSION"}},
            UpdateExpression="ADD version :one", ExpressionAttributeValues={":one": {"N": "1"}},
        )  # fmt: skip
        time.sleep(16)  # the functions' definition caches re-check after 15 s

    def seed_customers(self, start: int, stop: int) -> None:
        items = []
        for index in range(start, stop):
            source = f"seeded-{index}"
            customer_id = customer_id_for(source)
            items.append({
                "pk": {"S": f"CUST#{customer_id}"}, "sk": {"S": "CUST"}, "id": {"S": customer_id},
                "source_id": {"S": source}, "profile": {"S": "{}"}, "created_at": {"S": "2026-01-01T00:00:00.000Z"},
                "version": {"N": "1"}, "gsi2pk": {"S": customer_listing_partition(customer_id)},
                "gsi2sk": {"S": customer_id},
            })  # fmt: skip
        self._batch_write(items)

    def _batch_write(self, items: list[dict[str, Any]]) -> None:
        chunks = [items[start : start + 25] for start in range(0, len(items), 25)]

        def write(chunk: list[dict[str, Any]]) -> None:
            pending: dict[str, Any] = {self.table: [{"PutRequest": {"Item": item}} for item in chunk]}
            while pending:
                pending = dict(self.ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {})

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(write, chunks))


def _median_ratio(before: list[float], after: list[float]) -> float:
    baseline = statistics.median(before)
    return round(statistics.median(after) / baseline, 3) if baseline else float("nan")


def measure(stack: RunningStack, scale: float) -> dict[str, float | None]:
    bench = Bench(stack)
    events = max(BATCH, int(1000 * scale))
    bench.create_segment("Window shoppers", {"type": "event_count", "event": EVENT, "window": {"kind": "all_time"},
                                             "op": "gte", "value": 1_000_000})  # fmt: skip
    users = [f"bench-viewer-{index}" for index in range(CUSTOMERS)]

    pipeline, items_1k, cpu_1k = [], [], []
    bench.seed_customers(0, int(1000 * scale))
    for _ in range(RUNS):
        everything, items, cpu = bench.per_event(users, events)
        pipeline.append(everything)
        items_1k.append(items)
        cpu_1k.append(cpu)
    print(f"  segments, 1k customers, 1 definition: {statistics.median(items_1k):.3f} items/event, "
          f"{statistics.median(cpu_1k):.3f} ms CPU/event; pipeline {statistics.median(pipeline):.3f} items/event",
          flush=True)  # fmt: skip

    bench.seed_customers(int(1000 * scale), int(100_000 * scale))
    items_100k, cpu_100k = [], []
    for _ in range(RUNS):
        _, items, cpu = bench.per_event(users, events)
        items_100k.append(items)
        cpu_100k.append(cpu)
    print(f"  segments, 100k customers: {statistics.median(items_100k):.3f} items/event, "
          f"{statistics.median(cpu_100k):.3f} ms CPU/event", flush=True)  # fmt: skip

    bench.seed_definitions(999)
    items_1000, cpu_1000 = [], []
    for _ in range(RUNS):
        _, items, cpu = bench.per_event(users, events)
        items_1000.append(items)
        cpu_1000.append(cpu)
    print(f"  segments, 1,000 definitions: {statistics.median(items_1000):.3f} items/event, "
          f"{statistics.median(cpu_1000):.3f} ms CPU/event", flush=True)  # fmt: skip

    return {
        "pipeline_items_per_event": round(statistics.median(pipeline), 3),
        "segments_items_ratio_100k_customers": _median_ratio(items_1k, items_100k),
        "segments_cpu_ratio_100k_customers": _median_ratio(cpu_1k, cpu_100k),
        "segments_items_ratio_1000_defs": _median_ratio(items_100k, items_1000),
        "segments_cpu_ratio_1000_defs": _median_ratio(cpu_100k, cpu_1000),
    }
