"""Composition of the loyalty services (what :func:`perkflow.wiring.loyalty` returns).

Built once per container on first use. Reward codes are issued through the promotions machinery's publication
service (:class:`PublishedCodes` adapts it to the loyalty port); customers are read and upserted through the
customer store and the customer admin service. ``PERKFLOW_LOYALTY_QUEUE_URL`` names the ``loyalty`` function's
queue, where a daily pass that ran out of time asks to continue.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from perkflow.adapters.dynamo import Table
from perkflow.adapters.loyalty.queue import QUEUE_VARIABLE, SqsContinuations
from perkflow.adapters.loyalty.store import LoyaltyStore
from perkflow.domain.customers import Customer
from perkflow.domain.errors import PerkflowError
from perkflow.domain.events import CustomerRef
from perkflow.domain.timeutil import parse_iso
from perkflow.services.loyalty.accounts import Accounts
from perkflow.services.loyalty.members import Members
from perkflow.services.loyalty.ports import IssuedReward, IssueFailed
from perkflow.services.loyalty.programs import Programs
from perkflow.services.loyalty.sweep import Sweeper
from perkflow.services.loyalty.triggers import Triggers

if TYPE_CHECKING:
    from perkflow.adapters.customers import CustomerStore
    from perkflow.services.customer_admin import CustomerAdmin
    from perkflow.services.promotions.publications import PublicationService


class PublishedCodes:
    """Reward codes as publications of the reward's campaign, replay-safe by ``source_id``."""

    def __init__(self, publications: Callable[[], PublicationService]) -> None:
        self._publications = publications

    def issue(self, campaign_id: str, customer: CustomerRef, source_id: str, metadata: dict[str, Any]) -> IssuedReward:
        body = {
            "campaign": campaign_id,
            "customer": {"id": customer.id, "source_id": customer.source_id},
            "source_id": source_id,
            "channel": "Loyalty",
            "metadata": metadata,
        }
        try:
            answer = self._publications().publish(body)
        except PerkflowError as error:
            if error.status >= 500:
                raise
            raise IssueFailed(error.key, error.message, error.status) from error
        voucher = answer.get("voucher") or {}
        expiration = voucher.get("expiration_date")
        return IssuedReward(
            code=voucher.get("code"),
            voucher_id=voucher.get("id"),
            expires_at=parse_iso(expiration) if isinstance(expiration, str) and expiration else None,
            voucher=voucher,
        )


class KnownCustomers:
    def __init__(self, store: Callable[[], CustomerStore], admin: Callable[[], CustomerAdmin]) -> None:
        self._store = store
        self._admin = admin

    def get(self, customer_id: str) -> Customer | None:
        return self._store().get(customer_id)

    def upsert(self, body: dict[str, Any]) -> Customer:
        return self._admin().upsert(body)


class LoyaltyWiring:
    def __init__(
        self,
        table: Table,
        source: str,
        clock: Callable[[], datetime],
        publications: Callable[[], PublicationService],
        customer_store: Callable[[], CustomerStore],
        customer_admin: Callable[[], CustomerAdmin],
    ) -> None:
        self.table = table
        self.source = source
        self.clock = clock
        self._publications = publications
        self._customer_store = customer_store
        self._customer_admin = customer_admin

    @cached_property
    def store(self) -> LoyaltyStore:
        return LoyaltyStore(self.table, self.source)

    @cached_property
    def accounts(self) -> Accounts:
        customers = KnownCustomers(self._customer_store, self._customer_admin)
        return Accounts(self.store, customers, PublishedCodes(self._publications), self.clock)

    @cached_property
    def programs(self) -> Programs:
        return Programs(self.store, self.clock)

    @cached_property
    def members(self) -> Members:
        customers = KnownCustomers(self._customer_store, self._customer_admin)
        return Members(self.store, self.programs, self.accounts, customers, self.clock)

    @cached_property
    def triggers(self) -> Triggers:
        return Triggers(self.store, self.accounts, self.clock)

    @cached_property
    def sweeper(self) -> Sweeper:
        continuations = SqsContinuations(os.environ.get(QUEUE_VARIABLE) or None)
        return Sweeper(self.store, self.accounts, continuations, self.clock)
