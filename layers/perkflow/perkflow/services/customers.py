"""Reading customers and their activity, by ``cust_`` id or by source id (anonymous aliases included)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from perkflow.domain.activities import Activity
from perkflow.domain.customers import Customer, customer_id_for
from perkflow.domain.errors import NotFound
from perkflow.services.ports import Customers

MAX_MERGE_HOPS = 10


@dataclass(frozen=True)
class ActivityPage:
    activities: list[Activity]
    has_more: bool

    @property
    def more_starting_after(self) -> str | None:
        return self.activities[-1].id if self.has_more and self.activities else None


class CustomerDirectory:
    def __init__(self, customers: Customers) -> None:
        self.customers = customers

    def get(self, id_or_source_id: str) -> Customer:
        """The customer, following a merged (anonymous or aliased) profile to the one it became."""
        customer = None
        if id_or_source_id.startswith("cust_"):
            customer = self.customers.get(id_or_source_id)
        if customer is None:
            customer = self.customers.get(customer_id_for(id_or_source_id))
        for _ in range(MAX_MERGE_HOPS):
            if customer is None or customer.merged_into is None:
                break
            customer = self.customers.get(customer_id_for(customer.merged_into))
        if customer is None:
            raise NotFound(
                f"Resource not found: customer {id_or_source_id}",
                details=id_or_source_id,
                extra={"resource_id": id_or_source_id, "resource_type": "customer"},
            )
        return customer

    def shown(self, customer: Customer) -> dict[str, Any]:
        """The Voucherify customer object with its redemption summary and loyalty memberships."""
        return customer.as_voucherify(
            self.customers.summary(customer.id), self.customers.loyalty_memberships(customer.id)
        )

    def activities(
        self,
        id_or_source_id: str,
        *,
        limit: int = 10,
        newest_first: bool = True,
        starting_after_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        activity_type: str | None = None,
    ) -> ActivityPage:
        customer = self.get(id_or_source_id)
        # Activities of profiles merged into this one are this customer's history too.
        ids = [customer.id, *(customer_id_for(source) for source in customer.merged_from)]
        found: list[Activity] = []
        cursor = starting_after_id
        while True:
            page, more = self.customers.activities(
                ids, limit=limit, newest_first=newest_first, after_id=cursor, start=start, end=end
            )
            found += [activity for activity in page if activity_type in (None, activity.type)]
            if len(found) >= limit or not more or not page:
                return ActivityPage(activities=found[:limit], has_more=more or len(found) > limit)
            cursor = page[-1].id
