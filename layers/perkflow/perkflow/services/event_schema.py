"""Reading the event schema registry."""

from __future__ import annotations

from perkflow.domain.errors import NotFound
from perkflow.domain.event_schema import EventSchema
from perkflow.services.ports import EventSchemas


class EventSchemaCatalogue:
    def __init__(self, schemas: EventSchemas) -> None:
        self.schemas = schemas

    def list(self) -> list[EventSchema]:
        return sorted(self.schemas.list(), key=lambda schema: schema.event)

    def get(self, event: str) -> EventSchema:
        schema = self.schemas.get(event)
        if schema is None:
            raise NotFound(
                f"Resource not found: event {event}",
                details=event,
                extra={"resource_id": event, "resource_type": "event_schema"},
            )
        return schema
