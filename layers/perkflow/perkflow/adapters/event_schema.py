"""The event schema registry in the table: one item per event name under ``SCHEMA``.

Per property two top-level attributes (``pc:<name>`` count, ``pt:<name>`` string set of types), because ADD
creates a missing top-level attribute in the same update, where a nested map path would need it to exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from perkflow.adapters.dynamo import Item, Table
from perkflow.domain.event_schema import EventDelta, EventSchema, PropertySchema, SchemaDelta
from perkflow.domain.timeutil import iso, parse_iso

PARTITION = "SCHEMA"
_COUNT, _TYPES = "pc:", "pt:"


def schema_key(event: str) -> dict[str, str]:
    return {"pk": PARTITION, "sk": f"EVT#{event}"}


class EventSchemaStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    def add(self, delta: SchemaDelta, seen_at: datetime) -> None:
        from botocore.exceptions import ClientError

        for event, event_delta in delta.events.items():
            try:
                self._update(event, event_delta, seen_at, with_properties=True)
            except ClientError as error:
                # An item grows with every new property name; past DynamoDB's item size, keep counting the
                # event and stop listing new properties (Segment's Source Schema also caps what it lists).
                if "size" not in str(error).lower():
                    raise
                self._update(event, event_delta, seen_at, with_properties=False)

    def _update(self, event: str, delta: EventDelta, seen_at: datetime, *, with_properties: bool) -> None:
        names = {"#count": "count", "#event": "event", "#first": "first_seen_at", "#last": "last_seen_at"}
        values: dict[str, Any] = {":n": delta.count, ":event": event, ":seen": iso(seen_at)}
        adds = ["#count :n"]
        if with_properties:
            for index, (prop, count) in enumerate(sorted(delta.property_counts.items())):
                names[f"#c{index}"], names[f"#t{index}"] = _COUNT + prop, _TYPES + prop
                values[f":c{index}"], values[f":t{index}"] = count, set(delta.property_types[prop])
                adds += [f"#c{index} :c{index}", f"#t{index} :t{index}"]
        self.table.update(
            schema_key(event),
            "SET #event = :event, #first = if_not_exists(#first, :seen), #last = :seen ADD " + ", ".join(adds),
            names=names,
            values=values,
        )

    def list(self) -> list[EventSchema]:
        return [_schema(item) for item in self.table.query_all("pk = :pk", {":pk": PARTITION})]

    def get(self, event: str) -> EventSchema | None:
        item = self.table.get(schema_key(event))
        return _schema(item) if item else None


def _schema(item: Item) -> EventSchema:
    properties = {
        name[len(_COUNT) :]: PropertySchema(
            types=tuple(sorted(item.get(_TYPES + name[len(_COUNT) :], ()))), count=int(count)
        )
        for name, count in item.items()
        if name.startswith(_COUNT)
    }
    return EventSchema(
        event=item["event"],
        count=int(item["count"]),
        first_seen_at=parse_iso(item["first_seen_at"]),
        last_seen_at=parse_iso(item["last_seen_at"]),
        properties=properties,
    )
