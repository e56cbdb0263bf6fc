"""Customers, tracking messages and activities in the table.

Items (docs/data-model.md):
- customer ``CUST#<cust id>`` / ``CUST``: the profile, ``version`` for optimistic writes; in ``gsi1`` under
  ``ACT#<cust id>`` as its own ``customer.created`` activity.
- message ``MSG#<messageId>`` / ``MSG``: the record of one tracking message. Its conditional put *is* the
  replay guard (a second message with that id stores nothing), and when the message is an activity the same
  item is listed in ``gsi1`` under ``ACT#<cust id>``, sorted by the time-ordered activity id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from perkflow.adapters import outbox
from perkflow.adapters.dynamo import (
    GSI1,
    GSI2,
    Action,
    ConditionFailed,
    Item,
    Put,
    Table,
    TransactionCancelled,
)
from perkflow.domain.activities import Activity, event_occurrence
from perkflow.domain.customers import Customer, Profile, customer_id_for
from perkflow.domain.events import DomainEvent, OutboxEntry
from perkflow.domain.recording import CustomerWrite, Recording, StaleCustomers
from perkflow.domain.timeutil import iso, parse_iso


def customer_key(customer_id: str) -> dict[str, str]:
    return {"pk": f"CUST#{customer_id}", "sk": "CUST"}


def summary_key(customer_id: str) -> dict[str, str]:
    return {"pk": f"CUST#{customer_id}", "sk": "SUMMARY"}


LISTING_SHARDS = 16


def customer_listing_partition(customer_id: str) -> str:
    shard = int(hashlib.sha256(customer_id.encode()).hexdigest()[:8], 16) % LISTING_SHARDS
    return f"CUSTOMERS#{shard:02d}"


def message_key(message_id: str) -> dict[str, str]:
    return {"pk": f"MSG#{message_id}", "sk": "MSG"}


def activity_partition(customer_id: str) -> str:
    return f"ACT#{customer_id}"


class CustomerStore:
    def __init__(self, table: Table, source: str) -> None:
        self.table = table
        self.source = source

    # -- customers ----------------------------------------------------------------------------------------
    def load(self, customer_ids: Iterable[str], *, consistent: bool = False) -> dict[str, Customer | None]:
        ids = list(dict.fromkeys(customer_ids))
        found = {
            item["id"]: customer_from_item(item)
            for item in self.table.batch_get([customer_key(customer_id) for customer_id in ids], consistent=consistent)
        }
        return {customer_id: found.get(customer_id) for customer_id in ids}

    def get(self, customer_id: str) -> Customer | None:
        item = self.table.get(customer_key(customer_id))
        return customer_from_item(item) if item else None

    def page(self, shard: int, *, after: str | None = None, limit: int = 100) -> tuple[list[Customer], str | None]:
        """One page of the customers listed in ``shard`` (0..LISTING_SHARDS-1), and the cursor of the next."""
        values = {":pk": f"CUSTOMERS#{shard:02d}"}
        condition = "gsi2pk = :pk"
        if after:
            condition, values[":after"] = condition + " AND gsi2sk > :after", after
        page = self.table.query(condition, values, index=GSI2, limit=limit)
        customers = [customer_from_item(item) for item in page.items]
        return customers, (customers[-1].id if page.next_key and customers else None)

    def history(self, customer_id: str) -> list[Activity]:
        """Every activity of the customer and of the profiles merged into it, oldest first."""
        customer = self.get(customer_id)
        ids = [customer_id, *(customer_id_for(source) for source in (customer.merged_from if customer else ()))]
        activities = [
            _activity(item)
            for partition in ids
            for item in self.table.query_all("gsi1pk = :pk", {":pk": activity_partition(partition)}, index=GSI1)
        ]
        return sorted(activities, key=lambda activity: activity.id)

    def loyalty_memberships(self, customer_id: str) -> list[Item]:
        """The customer's loyalty program memberships (``CUST#<id>`` / ``LOYALTY#<program id>``)."""
        return list(
            self.table.query_all(
                "pk = :pk AND begins_with(sk, :prefix)", {":pk": customer_key(customer_id)["pk"], ":prefix": "LOYALTY#"}
            )
        )

    def summary(self, customer_id: str) -> dict[str, Any]:
        """The counters redemptions keep on ``CUST#<id>`` / ``SUMMARY`` (empty when none yet)."""
        return self.table.get(summary_key(customer_id)) or {}

    def delete(self, customer_id: str) -> None:
        """Remove the customer and every item of its partition (profile, summary, segment state).

        Its activity rows stay in the log they belong to (messages, redemptions) but no customer lists them.
        """
        items = self.table.query_all("pk = :pk", {":pk": customer_key(customer_id)["pk"]}, consistent=True)
        for item in items:
            self.table.delete({"pk": item["pk"], "sk": item["sk"]})

    # -- recording messages -------------------------------------------------------------------------------
    def save(self, recording: Recording) -> bool:
        """Store a recorded message atomically. False: the message was stored before (a replay).

        Raises StaleCustomers when a customer changed since it was read.
        """
        actions: list[Action] = [self.customer_put(write) for write in recording.customer_writes]
        message = recording.message
        if not message.deduplicated and recording.activity is None and not recording.events:
            # Nothing to guard against replays and nothing to list: the customer writes are the whole change.
            if actions:
                self._write_customers(actions)
            return True
        message_put = self._message_put(recording)
        if not actions:
            try:
                self.table.put(message_put.item, condition=message_put.condition)
            except ConditionFailed:
                return False
            return True
        actions.insert(0, message_put)
        try:
            self.table.transact(actions)
        except TransactionCancelled as cancelled:
            failed = cancelled.failed_at()
            if 0 in failed:
                return False
            stale = [recording.customer_writes[index - 1].customer.id for index in failed]
            if not stale:
                raise
            raise StaleCustomers(stale) from cancelled
        return True

    def _write_customers(self, actions: list[Action]) -> None:
        try:
            self.table.transact(actions)
        except TransactionCancelled as cancelled:
            raise StaleCustomers(
                [actions[index].item["id"] for index in cancelled.failed_at()]  # type: ignore[union-attr]
            ) from cancelled

    def _message_put(self, recording: Recording) -> Put:
        message = recording.message
        item: Item = {
            **message_key(message.message_id),
            "message_id": message.message_id,
            "kind": message.kind,
            "customer_id": recording.customer.id,
            "timestamp": iso(message.timestamp),
        }
        if recording.activity is not None:
            item.update(activity_attributes(recording.customer.id, recording.activity))
        outbox.attach(item, [OutboxEntry.of(self.source, event) for event in recording.events])
        return Put(item=item, condition="attribute_not_exists(pk)")

    def customer_put(self, write: CustomerWrite) -> Put:
        """The create or versioned update of a customer, with its events; other writers put it in their
        own transactions (a publication that creates its customer)."""
        customer = write.customer
        item = _customer_item(customer)
        outbox.attach(item, [OutboxEntry.of(self.source, event) for event in write.events])
        if write.expected_version is None:
            return Put(item=item, condition="attribute_not_exists(pk)")
        return Put(item=item, condition="version = :expected", values={":expected": write.expected_version})

    # -- activity -----------------------------------------------------------------------------------------
    def activities(
        self,
        customer_ids: Sequence[str],
        *,
        limit: int,
        newest_first: bool,
        after_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> tuple[list[Activity], bool]:
        """A page of activities over one customer and the profiles merged into it, and whether more exist."""
        bound_low = "evcus_" + (f"{int(start.timestamp() * 1000):011x}" if start else "")
        bound_high = "evcus_" + (f"{int(end.timestamp() * 1000) + 1:011x}" if end else "~")
        if after_id:
            if newest_first:
                bound_high = min(bound_high, after_id)
            else:
                bound_low = max(bound_low, after_id + "\x00")
        collected: list[Activity] = []
        for customer_id in customer_ids:
            page = self.table.query(
                "gsi1pk = :pk AND gsi1sk BETWEEN :low AND :high",
                {":pk": activity_partition(customer_id), ":low": bound_low, ":high": bound_high},
                index=GSI1,
                limit=limit + 2,  # one more than a page, plus the cursor item itself
                forward=not newest_first,
            )
            collected += [_activity(item) for item in page.items if not (after_id and item["gsi1sk"] == after_id)]
        collected.sort(key=lambda activity: activity.id, reverse=newest_first)
        return collected[:limit], len(collected) > limit


def activity_attributes(customer_id: str, activity: Activity, events: Sequence[DomainEvent] = ()) -> Item:
    """Attributes that list an item as one of the customer's activities (any item can be one).

    ``events`` are the bus events the same change publishes: recorded with the activity as occurrences, so a
    segment backfill replaying the activity log counts them exactly as the live path did (same event ids).
    """
    stored = activity
    if events:
        occurrences = [event_occurrence(event) for event in events]
        stored = activity.model_copy(update={"data": {**activity.data, "occurrences": occurrences}})
    return {
        "gsi1pk": activity_partition(customer_id),
        "gsi1sk": activity.id,
        "activity": json.dumps(stored.model_dump(mode="json"), separators=(",", ":")),
    }


def _customer_item(customer: Customer) -> Item:
    created = customer.created_activity()
    return {
        **customer_key(customer.id),
        "id": customer.id,
        "source_id": customer.source_id,
        "profile": json.dumps(customer.profile.model_dump(exclude_none=True), separators=(",", ":")),
        "created_at": iso(customer.created_at),
        "updated_at": iso(customer.updated_at) if customer.updated_at else None,
        "version": customer.version,
        "merged_into": customer.merged_into,
        "merged_from": list(customer.merged_from) or None,
        "gsi1pk": activity_partition(customer.id),
        "gsi1sk": created.id,
        # Every live customer is listed, spread over shards, for whole-customer-base work (segment backfills,
        # syncing all customers to a destination); a merged-away profile is not a customer any more.
        "gsi2pk": None if customer.merged_into else customer_listing_partition(customer.id),
        "gsi2sk": None if customer.merged_into else customer.id,
    }


def customer_from_item(item: Item) -> Customer:
    """The customer a stored customer item holds."""
    return Customer(
        id=item["id"],
        source_id=item.get("source_id"),
        profile=Profile.model_validate(json.loads(item.get("profile") or "{}")),
        created_at=parse_iso(item["created_at"]),
        updated_at=parse_iso(item["updated_at"]) if item.get("updated_at") else None,
        version=int(item.get("version", 0)),
        merged_into=item.get("merged_into"),
        merged_from=tuple(item.get("merged_from") or ()),
    )


def _activity(item: Item) -> Activity:
    if item["sk"] == "CUST":
        return customer_from_item(item).created_activity()
    data: dict[str, Any] = json.loads(item["activity"])
    return Activity.model_validate(data)
