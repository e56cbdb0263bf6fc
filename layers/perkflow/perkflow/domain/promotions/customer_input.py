"""The ``customer`` of a publication, validation or redemption request, and its upsert.

Voucherify upserts the customer a promotion request names (reference/voucherify.md §3.7, §3.9): by ``id``
(``cust_``) or ``source_id``, with any profile fields the request carries. A known customer whose profile
the request changes is updated; an unknown one is created (it needs a ``source_id``: perkflow derives
customer ids from source ids, DESIGN §6). The write rides on the request's own transaction, with the
``customer.created`` / ``customer.updated`` event the rest of perkflow (segments) listens to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from perkflow.domain.customers import Customer, Profile, customer_id_for
from perkflow.domain.errors import NotFound
from perkflow.domain.events import CustomerCreated, CustomerUpdated
from perkflow.domain.ids import new_id
from perkflow.domain.promotions.common import parse
from perkflow.domain.promotions.errors import InvalidCustomer
from perkflow.domain.recording import CustomerWrite


class CustomerInput(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    id: str | None = None
    source_id: str | None = Field(default=None, min_length=1)
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    description: str | None = None
    birthdate: str | None = Field(default=None, validation_alias=AliasChoices("birthdate", "birthday"))
    address: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None

    @classmethod
    def of(cls, value: Any) -> CustomerInput | None:
        """The request's ``customer``: an object, or (old clients) a bare id or source id; None if absent."""
        if value is None or value == {}:
            return None
        if isinstance(value, str):
            return cls(id=value) if value.startswith("cust_") else cls(source_id=value)
        given = parse(cls, value, InvalidCustomer, "customer is not a customer object")
        return given if given.id or given.source_id else None

    @property
    def customer_id(self) -> str:
        if self.id and self.id.startswith("cust_"):
            return self.id
        return customer_id_for(str(self.source_id or self.id))

    def profile(self) -> Profile:
        fields = self.model_dump(exclude_none=True, exclude={"id", "source_id"})
        if "address" in fields:
            fields["address"] = {key: str(value) for key, value in fields["address"].items() if value is not None}
        return Profile(**fields)


def upsert(existing: Customer | None, given: CustomerInput, now: datetime) -> tuple[Customer, CustomerWrite | None]:
    """The customer the request means, and the write that makes it so (None: nothing to store)."""
    update = given.profile()
    if existing is None:
        source_id = given.source_id or (given.id if given.id and not given.id.startswith("cust_") else None)
        if source_id is None:
            raise NotFound(
                f"Resource not found: customer {given.id}",
                details=str(given.id),
                extra={"resource_id": given.id, "resource_type": "customer"},
            )
        created = Customer.new(source_id, Profile().merged_with(update), now).model_copy(update={"version": 1})
        write = CustomerWrite(customer=created, expected_version=None)
        write.events.append(
            CustomerCreated(
                event_id=new_id("evt_"), occurred_at=now, customer=created.ref(), profile=created.snapshot()
            )
        )
        return created, write
    profile = existing.profile.merged_with(update)
    changed = profile.changed_paths(existing.profile)
    if not changed:
        return existing, None
    updated = existing.with_profile(profile, now).model_copy(update={"version": existing.version + 1})
    write = CustomerWrite(customer=updated, expected_version=existing.version)
    write.events.append(
        CustomerUpdated(
            event_id=new_id("evt_"),
            occurred_at=now,
            customer=updated.ref(),
            changed=changed,
            profile=updated.snapshot(),
        )
    )
    return updated, write


def simple(customer: Customer) -> dict[str, Any]:
    """Voucherify's SimpleCustomer, as redemptions and publications embed it."""
    return {
        "id": customer.id,
        "name": customer.profile.name,
        "email": customer.profile.email,
        "source_id": customer.source_id,
        "metadata": customer.profile.metadata,
        "object": "customer",
    }
