"""The composition root: services built with their real adapters, once per container, on first use."""

from __future__ import annotations

from functools import lru_cache

from perkflow.adapters.dynamo import Table
from perkflow.adapters.eventbridge import EventBus
from perkflow.config import get_settings


@lru_cache(maxsize=1)
def table() -> Table:
    return Table(get_settings().table_name)


@lru_cache(maxsize=1)
def event_bus() -> EventBus:
    return EventBus(get_settings().bus_name)


def reset() -> None:
    """Forget everything built (tests switch environments between cases)."""
    from perkflow.adapters import aws

    for factory in (table, event_bus):
        factory.cache_clear()
    get_settings.cache_clear()
    aws.reset_clients()
