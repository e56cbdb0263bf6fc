"""Writing customers and custom events through the API (POST/PUT/DELETE /v1/customers, POST /v1/events).

Both go through the same recording as ingest: a profile write is an identify carrying Voucherify's fields, a
custom event is a track. So segments, activity and the bus see API writes exactly as they see CDP events.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from perkflow.domain.customers import Customer, voucherify_profile
from perkflow.domain.errors import InvalidPayload, NotFound, PerkflowError
from perkflow.domain.ids import new_id
from perkflow.domain.recording import StaleCustomers, record_profile
from perkflow.services.customers import CustomerDirectory
from perkflow.services.ingest import IngestService
from perkflow.services.ports import Customers

MAX_ATTEMPTS = 5


class CustomerAdmin:
    def __init__(
        self, customers: Customers, directory: CustomerDirectory, ingest: IngestService, clock: Callable[[], datetime]
    ) -> None:
        self.customers = customers
        self.directory = directory
        self.ingest = ingest
        self.clock = clock

    def upsert(self, body: dict[str, Any]) -> Customer:
        """POST /v1/customers: update the customer named by ``id`` or ``source_id``, or create it."""
        source_id = _optional_string(body, "source_id")
        customer_id = _optional_string(body, "id")
        if customer_id:
            return self._write(lambda: self.directory.get(customer_id), body)
        if source_id:
            return self._write(lambda: self._find(source_id), body, source_id=source_id)
        return self._write(lambda: None, body)

    def update(self, id_or_source_id: str, body: dict[str, Any]) -> Customer:
        """PUT /v1/customers/{id}: update an existing customer (404 when there is none)."""
        return self._write(lambda: self.directory.get(id_or_source_id), body)

    def delete(self, id_or_source_id: str) -> None:
        self.customers.delete(self.directory.get(id_or_source_id).id)

    def track(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/events: a custom event for a customer, who is created (or updated) on the way."""
        event = body.get("event")
        if not isinstance(event, str) or not event:
            raise InvalidPayload("event is required", details="event")
        customer_body = body.get("customer")
        if not isinstance(customer_body, dict):
            raise InvalidPayload("customer is required", details="customer")
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise InvalidPayload("metadata must be an object", details="metadata")
        customer = self.upsert(customer_body)
        source_id = customer.source_id
        if source_id is None:
            raise InvalidPayload("customer needs a source_id to record events", details="customer.source_id")
        properties = dict(metadata)
        for extra in ("referral", "loyalty"):
            if body.get(extra):
                properties[extra] = body[extra]
        result = self.ingest.ingest([{"type": "track", "userId": source_id, "event": event, "properties": properties}])
        if result.rejected:
            raise InvalidPayload(result.rejected[0].message, details=result.rejected[0].key)
        return {
            "object": "event",
            "type": event,
            "customer": {
                "id": customer.id,
                "source_id": source_id,
                "name": customer.profile.name,
                "email": customer.profile.email,
                "metadata": customer.profile.metadata,
                "object": "customer",
            },
            "referral": body.get("referral"),
            "loyalty": body.get("loyalty"),
            "metadata": metadata,
        }

    def _find(self, source_id: str) -> Customer | None:
        try:
            return self.directory.get(source_id)
        except NotFound:
            return None

    def _write(
        self, load: Callable[[], Customer | None], body: dict[str, Any], source_id: str | None = None
    ) -> Customer:
        update = voucherify_profile(body)
        for _ in range(MAX_ATTEMPTS):
            current = load()
            source = current.source_id if current is not None else source_id
            recording = record_profile(current, source, update, new_id("req_"), self.clock())
            try:
                self.customers.save(recording)
            except StaleCustomers:
                continue  # another writer got there first: read again and re-apply
            return recording.customer
        raise PerkflowError("The customer kept changing; try again", key="multiple_requests", status=409)


def _optional_string(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidPayload(f"{name} must be a string", details=name)
    return value
