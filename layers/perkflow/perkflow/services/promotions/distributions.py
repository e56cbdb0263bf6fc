"""Distributions: perkflow's ``/v1/distributions`` and what the ``distribution`` function does with
``customer.segment.entered``: publish one code of each matching distribution's campaign to the customer.

A trigger event publishes at most once per distribution, however often it is delivered (the publication's
``source_id`` is the distribution id and the event id), and a join-once campaign gives a customer one code
however many entries (the campaign's holder guard): both hold under any number of parallel deliveries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from perkflow.domain.errors import NotFound, PerkflowError
from perkflow.domain.events import CustomerSegmentEntered
from perkflow.domain.promotions.common import voucherify_list
from perkflow.domain.promotions.customer_input import CustomerInput
from perkflow.domain.promotions.distributions import Distribution, DistributionRequest
from perkflow.domain.promotions.publications import PublicationOrder
from perkflow.services.promotions.campaigns import campaign_not_found
from perkflow.services.promotions.ports import CatalogStore, DistributionStore
from perkflow.services.promotions.publications import PublicationService

CHANNEL = "perkflow-distribution"
# Refusals that a retry cannot change: the customer already joined, or the campaign has no codes left.
_FINAL = frozenset({"voucher_cannot_be_published", "no_voucher_suitable_for_publication"})


@dataclass(frozen=True)
class Outcome:
    distribution_id: str
    publication_id: str | None
    code: str | None
    skipped: str | None = None  # why nothing was published


def distribution_not_found(distribution_id: str) -> NotFound:
    return NotFound(
        f"Resource not found: distribution {distribution_id}",
        details=distribution_id,
        extra={"resource_id": distribution_id, "resource_type": "distribution"},
    )


class DistributionService:
    def __init__(
        self,
        store: DistributionStore,
        catalog: CatalogStore,
        publications: PublicationService,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.publications = publications
        self.clock = clock

    # -- configuration ------------------------------------------------------------------------------------------
    def _campaign(self, request: DistributionRequest) -> tuple[str, str]:
        key = request.action.campaign_key()
        campaign = self.catalog.campaign(key)
        if campaign is None:
            raise campaign_not_found(key)
        return campaign.id, campaign.name

    def create(self, body: Any) -> dict[str, Any]:
        request = DistributionRequest.parse(body)
        campaign_id, campaign_name = self._campaign(request)
        distribution = Distribution.create(
            request, campaign_id=campaign_id, campaign_name=campaign_name, now=self.clock()
        )
        self.store.create(distribution)
        return distribution.as_json()

    def distribution(self, distribution_id: str) -> Distribution:
        distribution = self.store.get(distribution_id)
        if distribution is None:
            raise distribution_not_found(distribution_id)
        return distribution

    def get(self, distribution_id: str) -> dict[str, Any]:
        return self.distribution(distribution_id).as_json()

    def update(self, distribution_id: str, body: Any) -> dict[str, Any]:
        current = self.distribution(distribution_id)
        request = DistributionRequest.parse(body)
        campaign_id, campaign_name = self._campaign(request)
        updated = current.updated(request, campaign_id=campaign_id, campaign_name=campaign_name, now=self.clock())
        self.store.put(updated)
        return updated.as_json()

    def delete(self, distribution_id: str) -> None:
        if not self.store.delete(distribution_id):
            raise distribution_not_found(distribution_id)

    def listing(self) -> dict[str, Any]:
        return voucherify_list([distribution.as_json() for distribution in self.store.all()])

    # -- running ------------------------------------------------------------------------------------------------
    def on_segment_entered(self, event: CustomerSegmentEntered) -> list[Outcome]:
        outcomes = []
        for distribution in self.store.for_segment(event.segment.id):
            if not distribution.active:
                continue
            order = PublicationOrder(
                customer=CustomerInput(id=event.customer.id, source_id=event.customer.source_id),
                campaign=distribution.campaign_id,
                voucher=None,
                count=1,
                source_id=distribution.source_id(event.event_id),
                channel=CHANNEL,
                metadata={"source_type": "distribution", "distribution_id": distribution.id},
                join_once=False,
                distribution_id=distribution.id,
            )
            try:
                answer = self.publications.run(order)
            except PerkflowError as refused:
                if refused.key not in _FINAL:
                    raise
                outcomes.append(Outcome(distribution.id, None, None, skipped=refused.key))
                continue
            voucher = answer.get("voucher") or {}
            outcomes.append(Outcome(distribution.id, answer.get("id"), voucher.get("code")))
        return outcomes
