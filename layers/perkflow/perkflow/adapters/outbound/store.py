"""Outbound state in the one table (docs/data-model.md, "Outbound").

| item | pk | sk |
|---|---|---|
| destination settings, waiting count | ``OUT#<destination>`` | ``CONFIG`` |
| Klaviyo connection (no secret) | ``OUT#klaviyo`` | ``CONNECTION`` |
| credentials version | ``OUT#credentials`` | ``VERSION`` |
| lease (token refresh) | ``OUT#lease`` | ``<name>`` |
| pending OAuth authorisation (TTL) | ``OAUTHSTATE#<state>`` | ``STATE`` |
| rate-limit cell (GCRA) | ``OUT#rate`` | ``<scope>`` |
| parked message | ``OUTPARK#<destination>#<shard>`` | ``<SQS message id>`` |
| Klaviyo customer sync job | ``OUT#klaviyo-sync`` | ``JOB#<job id>`` (job ids sort by time) |
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, fields
from typing import Any

from perkflow.adapters.customers import LISTING_SHARDS, CustomerStore
from perkflow.adapters.dynamo import ConditionFailed, Item, Table
from perkflow.domain.outbound.destinations import DestinationSettings
from perkflow.domain.outbound.model import (
    Connection,
    Parked,
    PendingAuthorization,
    Snapshot,
    StoredDestination,
    SyncJob,
)
from perkflow.domain.outbound.ratelimit import Pacing, hold, reserve

PARK_SHARDS = 4
_RESERVE_TRIES = 25


def _key(pk: str, sk: str) -> dict[str, str]:
    return {"pk": pk, "sk": sk}


CONNECTION_KEY = _key("OUT#klaviyo", "CONNECTION")
CREDENTIALS_KEY = _key("OUT#credentials", "VERSION")


def config_key(destination: str) -> dict[str, str]:
    return _key(f"OUT#{destination}", "CONFIG")


def _connection(item: Item | None) -> Connection:
    if not item:
        return Connection()
    known = {field.name for field in fields(Connection)}
    data = {name: value for name, value in item.items() if name in known}
    if data.get("expires_at") is not None:
        data["expires_at"] = float(data["expires_at"])
    return Connection(**data)


class OutboundTable:
    """DestinationStore, ConnectionStore, ParkingLot, SyncJobs and RateLimiter on the table."""

    shards = PARK_SHARDS

    def __init__(self, table: Table, time: Callable[[], float]) -> None:
        self.table = table
        self.time = time

    # -- DestinationStore --------------------------------------------------------------------------------------
    def load(self, names: Sequence[str]) -> Snapshot:
        keys = [config_key(name) for name in names] + [CONNECTION_KEY, CREDENTIALS_KEY]
        items = {(item["pk"], item["sk"]): item for item in self.table.batch_get(keys, consistent=True)}
        destinations = {}
        for name in names:
            item = items.get(("OUT#" + name, "CONFIG"))
            if item is None:
                continue
            destinations[name] = StoredDestination(
                settings=DestinationSettings.model_validate(json.loads(item.get("settings") or "{}")),
                waiting=max(0, int(item.get("waiting") or 0)),
                updated_at=item.get("updated_at"),
            )
        version = items.get((CREDENTIALS_KEY["pk"], CREDENTIALS_KEY["sk"]), {}).get("version", 0)
        return Snapshot(destinations, _connection(items.get(("OUT#klaviyo", "CONNECTION"))), int(version))

    def save(self, name: str, settings: DestinationSettings) -> None:
        self.table.update(
            config_key(name),
            "SET settings = :settings, updated_at = :now",
            values={":settings": settings.model_dump_json(), ":now": _iso(self.time())},
        )

    def delete(self, name: str) -> None:
        # The waiting count stays: parked messages are still there.
        self.table.update(config_key(name), "REMOVE settings, updated_at")

    def count_waiting(self, name: str, delta: int) -> None:
        if delta:
            self.table.update(config_key(name), "ADD waiting :delta", values={":delta": delta})

    def bump_credentials_version(self) -> None:
        self.table.update(CREDENTIALS_KEY, "ADD version :one", values={":one": 1})

    # -- ConnectionStore ----------------------------------------------------------------------------------------
    def connection(self) -> Connection:
        return _connection(self.table.get(CONNECTION_KEY, consistent=True))

    def save_connection(self, connection: Connection) -> None:
        self.table.put({**CONNECTION_KEY, **{k: v for k, v in asdict(connection).items() if v is not None}})

    def remember(self, state: str, pending: PendingAuthorization) -> None:
        self.table.put(
            {
                **_key(f"OAUTHSTATE#{state}", "STATE"),
                "verifier": pending.verifier,
                "redirect_uri": pending.redirect_uri,
                "valid_until": pending.expires_at,
                "expires_at": int(pending.expires_at) + 60,  # TTL (lazy); readers check valid_until
            },
            condition="attribute_not_exists(pk)",
        )

    def take(self, state: str) -> PendingAuthorization | None:
        client = self.table.client
        from perkflow.adapters.dynamo import codec

        try:
            response = client.delete_item(
                TableName=self.table.name,
                Key=codec().dump(_key(f"OAUTHSTATE#{state}", "STATE")),
                ConditionExpression="attribute_exists(pk)",
                ReturnValues="ALL_OLD",
            )
        except client.exceptions.ConditionalCheckFailedException:
            return None
        item = codec().load(response.get("Attributes", {}))
        return PendingAuthorization(
            verifier=str(item["verifier"]),
            redirect_uri=str(item["redirect_uri"]),
            expires_at=float(item["valid_until"]),
        )

    def acquire(self, lease: str, holder: str, seconds: float) -> bool:
        now = self.time()
        try:
            self.table.put(
                {**_key("OUT#lease", lease), "holder": holder, "until": now + seconds},
                condition="attribute_not_exists(pk) OR #until < :now OR holder = :holder",
                names={"#until": "until"},
                values={":now": now, ":holder": holder},
            )
        except ConditionFailed:
            return False
        return True

    def release(self, lease: str, holder: str) -> None:
        with contextlib.suppress(ConditionFailed):  # it expired and someone else holds it now
            self.table.delete(_key("OUT#lease", lease), condition="holder = :holder", values={":holder": holder})

    # -- ParkingLot ---------------------------------------------------------------------------------------------
    def park(self, destination: str, messages: Sequence[tuple[str, str]]) -> None:
        items = []
        for message_id, body in messages:
            shard = int(hashlib.sha256(message_id.encode()).hexdigest(), 16) % PARK_SHARDS
            items.append({**_key(f"OUTPARK#{destination}#{shard}", message_id), "body": body})
        self.table.batch_put(items)

    def page(self, destination: str, shard: int, limit: int) -> list[Parked]:
        found = self.table.query("pk = :pk", {":pk": f"OUTPARK#{destination}#{shard}"}, limit=limit, consistent=True)
        return [Parked(key=_key(item["pk"], item["sk"]), body=str(item["body"])) for item in found.items]

    def remove(self, keys: Sequence[dict[str, str]]) -> None:
        client = self.table.client
        from perkflow.adapters.dynamo import codec

        for start in range(0, len(keys), 25):
            pending: Any = {
                self.table.name: [{"DeleteRequest": {"Key": codec().dump(key)}} for key in keys[start : start + 25]]
            }
            while pending:
                response = client.batch_write_item(RequestItems=pending)
                pending = dict(response.get("UnprocessedItems") or {})

    # -- RateLimiter (GCRA, shared by every container) -----------------------------------------------------------
    def reserve(self, scope: str, rule: Pacing, cost: int, horizon: float) -> float | None:
        key = _key("OUT#rate", scope)
        for _ in range(_RESERVE_TRIES):
            item = self.table.get(key, consistent=True)
            tat = float(item["tat"]) if item and item.get("tat") is not None else None
            version = int(item.get("v", 0)) if item else 0
            booked = reserve(tat, self.time(), cost, rule, horizon)
            if booked is None:
                return None
            try:
                self.table.put(
                    {**key, "tat": booked.new_tat, "v": version + 1},
                    condition="attribute_not_exists(pk) OR v = :v",
                    values={":v": version},
                )
            except ConditionFailed:
                continue  # another container booked first: book again from its TAT
            return booked.send_at
        return None

    def hold(self, scope: str, rule: Pacing, seconds: float) -> None:
        key = _key("OUT#rate", scope)
        held = hold(None, self.time(), seconds, rule)
        with contextlib.suppress(ConditionFailed):  # already held at least that long
            self.table.update(
                key,
                "SET tat = :held, v = if_not_exists(v, :zero) + :one",
                condition="attribute_not_exists(tat) OR tat < :held",
                values={":held": held, ":zero": 0, ":one": 1},
            )

    # -- SyncJobs ------------------------------------------------------------------------------------------------
    def create(self, job: SyncJob) -> None:
        self.table.put(_job_item(job), condition="attribute_not_exists(pk)")

    def get(self, job_id: str) -> SyncJob | None:
        item = self.table.get(_key("OUT#klaviyo-sync", f"JOB#{job_id}"), consistent=True)
        return _job(item) if item else None

    def latest(self) -> SyncJob | None:
        page = self.table.query("pk = :pk", {":pk": "OUT#klaviyo-sync"}, forward=False, limit=1, consistent=True)
        return _job(page.items[0]) if page.items else None

    def advance(self, job: SyncJob, expected_cursor: str | None) -> bool:
        try:
            self.table.put(
                _job_item(job),
                condition="attribute_not_exists(#cursor)" if expected_cursor is None else "#cursor = :cursor",
                names={"#cursor": "cursor"},
                values={":cursor": expected_cursor} if expected_cursor is not None else None,
            )
        except ConditionFailed:
            return False
        return True


class CustomerListing:
    """CustomerPages over the customers' sharded listing (gsi2 ``CUSTOMERS#NN``, merged profiles excluded):
    shard by shard, page by page; the cursor is ``{"shard", "after"}``."""

    def __init__(self, customers: CustomerStore, shards: int = LISTING_SHARDS) -> None:
        self.customers = customers
        self.shards = shards

    def page(self, start: Mapping[str, Any] | None, limit: int) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        shard = int(start.get("shard", 0)) if start else 0
        after = start.get("after") if start else None
        found, next_after = self.customers.page(shard, after=str(after) if after else None, limit=limit)
        rows = [
            {
                "id": customer.id,
                "source_id": customer.source_id,
                "email": customer.profile.email,
                "name": customer.profile.name,
                "merged_into": customer.merged_into,
            }
            for customer in found
        ]
        if next_after:
            return rows, {"shard": shard, "after": next_after}
        if shard + 1 < self.shards:
            return rows, {"shard": shard + 1}
        return rows, None


def _job_item(job: SyncJob) -> Item:
    data = asdict(job)
    data["import_jobs"] = list(job.import_jobs)
    return {**_key("OUT#klaviyo-sync", f"JOB#{job.job_id}"), "job": json.dumps(data), "cursor": job.cursor}


def _job(item: Item) -> SyncJob:
    data = json.loads(item["job"])
    data["import_jobs"] = tuple(data.get("import_jobs") or ())
    known = {field.name for field in fields(SyncJob)}
    return SyncJob(**{name: value for name, value in data.items() if name in known})


def _iso(epoch: float) -> str:
    from datetime import UTC, datetime

    from perkflow.domain.timeutil import iso

    return iso(datetime.fromtimestamp(epoch, UTC))
