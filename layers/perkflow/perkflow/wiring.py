"""The composition root: services built with their real adapters, once per container, on first use.

Each factory imports what it builds inside its body, so a handler pays at cold start only for the capability
it uses (the ingest function never loads promotions, the outbound function never loads segments).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from perkflow import clock
from perkflow.adapters.dynamo import Table
from perkflow.adapters.eventbridge import EventBus
from perkflow.config import get_outbound_settings, get_settings

if TYPE_CHECKING:
    from perkflow.adapters.customers import CustomerStore
    from perkflow.adapters.jobs import JobQueue
    from perkflow.adapters.segment_memberships import SegmentMembershipStore
    from perkflow.adapters.segments import SegmentDefinitionStore, SegmentStateStore
    from perkflow.loyalty_wiring import LoyaltyWiring
    from perkflow.outbound_wiring import OutboundWiring
    from perkflow.promotions_wiring import PromotionsWiring
    from perkflow.services.customer_admin import CustomerAdmin
    from perkflow.services.customers import CustomerDirectory
    from perkflow.services.event_schema import EventSchemaCatalogue
    from perkflow.services.ingest import IngestService
    from perkflow.services.segments import SegmentCatalogue, SegmentEngineService


@lru_cache(maxsize=1)
def table() -> Table:
    return Table(get_settings().table_name)


@lru_cache(maxsize=1)
def event_bus() -> EventBus:
    return EventBus(get_settings().bus_name)


@lru_cache(maxsize=1)
def customer_store() -> CustomerStore:
    from perkflow.adapters.customers import CustomerStore

    return CustomerStore(table(), source=get_settings().event_source)


@lru_cache(maxsize=1)
def ingest_service() -> IngestService:
    from perkflow.adapters.event_schema import EventSchemaStore
    from perkflow.services.ingest import IngestService

    return IngestService(customer_store(), EventSchemaStore(table()), clock.now)


@lru_cache(maxsize=1)
def customer_directory() -> CustomerDirectory:
    from perkflow.services.customers import CustomerDirectory

    return CustomerDirectory(customer_store())


@lru_cache(maxsize=1)
def customer_admin() -> CustomerAdmin:
    from perkflow.services.customer_admin import CustomerAdmin

    return CustomerAdmin(customer_store(), customer_directory(), ingest_service(), clock.now)


@lru_cache(maxsize=1)
def event_schema_catalogue() -> EventSchemaCatalogue:
    from perkflow.adapters.event_schema import EventSchemaStore
    from perkflow.services.event_schema import EventSchemaCatalogue

    return EventSchemaCatalogue(EventSchemaStore(table()))


@lru_cache(maxsize=1)
def segment_memberships() -> SegmentMembershipStore:
    from perkflow.adapters.segment_memberships import SegmentMembershipStore

    return SegmentMembershipStore(table())


@lru_cache(maxsize=1)
def outbound() -> OutboundWiring:
    """Outbound sync (destinations, Klaviyo OAuth, delivery); its modules load on first use only."""
    from perkflow.outbound_wiring import OutboundWiring

    return OutboundWiring(table(), get_outbound_settings(), get_settings().event_source)


@lru_cache(maxsize=1)
def promotions() -> PromotionsWiring:
    """Campaigns, codes, rules, publications, distributions, validation and redemption (loaded on first use)."""
    from perkflow.promotions_wiring import PromotionsWiring

    return PromotionsWiring(table(), get_settings().event_source, clock.now)


@lru_cache(maxsize=1)
def loyalty() -> LoyaltyWiring:
    """Loyalty programs, members, the ledger, the bus triggers and the daily pass (loaded on first use)."""
    from perkflow.loyalty_wiring import LoyaltyWiring

    return LoyaltyWiring(
        table(),
        get_settings().event_source,
        clock.now,
        lambda: promotions().publications,
        customer_store,
        customer_admin,
    )


@lru_cache(maxsize=1)
def segment_definitions() -> SegmentDefinitionStore:
    from perkflow.adapters.segments import SegmentDefinitionStore

    return SegmentDefinitionStore(table())


@lru_cache(maxsize=1)
def segment_states() -> SegmentStateStore:
    from perkflow.adapters.segments import SegmentStateStore

    return SegmentStateStore(table(), source=get_settings().event_source)


@lru_cache(maxsize=1)
def segment_jobs() -> JobQueue:
    from perkflow.adapters.jobs import JobQueue

    return JobQueue(get_settings().segment_jobs_url)


@lru_cache(maxsize=1)
def segment_engine() -> SegmentEngineService:
    from perkflow.adapters.customers import LISTING_SHARDS
    from perkflow.adapters.segments import CustomerHistorySource
    from perkflow.services.segments import DefinitionsCache, SegmentEngineService

    return SegmentEngineService(
        DefinitionsCache(segment_definitions()),
        segment_states(),
        CustomerHistorySource(customer_store()),
        segment_jobs(),
        clock.now,
        source=get_settings().event_source,
        shards=LISTING_SHARDS,
    )


@lru_cache(maxsize=1)
def segment_catalogue() -> SegmentCatalogue:
    from perkflow.adapters.customers import LISTING_SHARDS
    from perkflow.services.segments import SegmentCatalogue

    return SegmentCatalogue(
        segment_definitions(),
        segment_jobs(),
        segment_states(),
        lambda id_or_source: customer_directory().get(id_or_source).id,
        clock.now,
        shards=LISTING_SHARDS,
    )


def reset() -> None:
    """Forget everything built (tests switch environments between cases)."""
    from perkflow.adapters import aws

    for factory in list(globals().values()):
        if callable(getattr(factory, "cache_clear", None)):
            factory.cache_clear()
    aws.reset_clients()
