"""Composition of the promotion services (what :func:`perkflow.wiring.promotions` returns).

Built once per container on first use. ``PERKFLOW_CODEGEN_QUEUE_URL`` names the queue of code generation
chunks (set on the functions that start or continue a generation).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from functools import cached_property

from perkflow.adapters.dynamo import Table
from perkflow.adapters.promotions.catalog import CatalogStore
from perkflow.adapters.promotions.checkout import CheckoutStore, RuleBook
from perkflow.adapters.promotions.distributions import DistributionStore
from perkflow.adapters.promotions.jobs import SqsJobQueue
from perkflow.adapters.promotions.publications import PublicationStore
from perkflow.adapters.promotions.vouchers import VoucherStore
from perkflow.services.promotions.campaigns import CampaignService
from perkflow.services.promotions.checkout import CheckoutService
from perkflow.services.promotions.distributions import DistributionService
from perkflow.services.promotions.publications import PublicationService
from perkflow.services.promotions.rules import RuleService
from perkflow.services.promotions.vouchers import VoucherService

CODEGEN_QUEUE_VARIABLE = "PERKFLOW_CODEGEN_QUEUE_URL"


class PromotionsWiring:
    def __init__(self, table: Table, source: str, clock: Callable[[], datetime]) -> None:
        self.table = table
        self.source = source
        self.clock = clock

    # -- adapters -----------------------------------------------------------------------------------------------
    @cached_property
    def catalog_store(self) -> CatalogStore:
        return CatalogStore(self.table, self.source)

    @cached_property
    def checkout_store(self) -> CheckoutStore:
        return CheckoutStore(self.table, self.source)

    @cached_property
    def rule_book(self) -> RuleBook:
        return RuleBook(self.table)

    @cached_property
    def voucher_store(self) -> VoucherStore:
        return VoucherStore(self.table, self.source)

    @cached_property
    def publication_store(self) -> PublicationStore:
        return PublicationStore(self.table, self.source)

    @cached_property
    def distribution_store(self) -> DistributionStore:
        return DistributionStore(self.table)

    @cached_property
    def jobs(self) -> SqsJobQueue:
        return SqsJobQueue(os.environ.get(CODEGEN_QUEUE_VARIABLE) or None)

    # -- services -----------------------------------------------------------------------------------------------
    @cached_property
    def campaigns(self) -> CampaignService:
        return CampaignService(self.catalog_store, self.jobs, self.clock)

    @cached_property
    def rules(self) -> RuleService:
        return RuleService(self.catalog_store, self.voucher_store, self.clock)

    @cached_property
    def vouchers(self) -> VoucherService:
        return VoucherService(self.voucher_store, self.catalog_store, self.checkout_store, self.clock)

    @cached_property
    def publications(self) -> PublicationService:
        return PublicationService(self.publication_store, self.catalog_store, self.clock)

    @cached_property
    def distributions(self) -> DistributionService:
        return DistributionService(self.distribution_store, self.catalog_store, self.publications, self.clock)

    @cached_property
    def checkout(self) -> CheckoutService:
        return CheckoutService(self.checkout_store, self.rule_book, self.clock)
