"""What recording one tracking message means: which customer it is, what changes, what is announced.

:func:`record` is pure. It takes the message and the stored state of the customers the message can touch
(:func:`customers_to_load` names them, following merges) and returns a :class:`Recording`: the message's own
record (its activity and events) and the customer writes, each with the version it expects to replace. The
storage adapter turns a Recording into one atomic write, so a message is stored whole or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from perkflow.domain.activities import CUSTOM_EVENT, Activity, activity_id
from perkflow.domain.customers import (
    Customer,
    Profile,
    anonymous_source_id,
    customer_id_for,
    profile_from_traits,
)
from perkflow.domain.events import (
    CustomerCreated,
    CustomerEventRecorded,
    CustomerUpdated,
    DomainEvent,
    RecordedEvent,
)
from perkflow.domain.ids import stable_id
from perkflow.domain.tracking import Message

Known = Mapping[str, Customer | None]


@dataclass
class CustomerWrite:
    customer: Customer
    expected_version: int | None  # None: the customer must not exist yet
    events: list[DomainEvent] = field(default_factory=list)


class StaleCustomers(Exception):
    """A customer changed since it was read (optimistic versioning): re-read these ids and record again."""

    def __init__(self, customer_ids: list[str]) -> None:
        super().__init__(", ".join(customer_ids))
        self.customer_ids = customer_ids


@dataclass
class Recording:
    message: Message
    customer: Customer
    activity: Activity | None
    events: list[DomainEvent]
    customer_writes: list[CustomerWrite]

    @property
    def recorded_event(self) -> RecordedEvent | None:
        for event in self.events:
            if isinstance(event, CustomerEventRecorded):
                return event.event
        return None


def _source_ids(message: Message) -> list[str]:
    """Source ids the message names directly (before following merges)."""
    sources: list[str] = []
    if message.user_id:
        sources.append(message.user_id)
    if message.anonymous_id:
        sources.append(anonymous_source_id(message.anonymous_id))
    if message.previous_id:
        sources += [message.previous_id, anonymous_source_id(message.previous_id)]
    return sources


def touched_customer_ids(message: Message, known: Known) -> list[str]:
    """Every customer id the message can touch: those it names, and where their merges lead (as far as
    ``known`` tells). The first is the customer the message names first."""
    ids: list[str] = []
    for source in _source_ids(message):
        customer_id = customer_id_for(source)
        while customer_id not in ids:
            ids.append(customer_id)
            customer = known.get(customer_id)
            if customer is None or customer.merged_into is None:
                break
            customer_id = customer_id_for(customer.merged_into)
    return ids


def customers_to_load(message: Message, known: Known) -> set[str]:
    """Customer ids :func:`record` will need that are not in ``known`` yet (loop until empty)."""
    return {customer_id for customer_id in touched_customer_ids(message, known) if customer_id not in known}


def _resolve(source: str, known: Known) -> tuple[str, Customer | None]:
    """The source id messages for ``source`` land on, after merges, and that customer's state."""
    seen: set[str] = set()
    customer = known.get(customer_id_for(source))
    while customer is not None and customer.merged_into and customer.merged_into not in seen:
        seen.add(source)
        source = customer.merged_into
        customer = known.get(customer_id_for(source))
    return source, customer


def record(message: Message, known: Known, now: datetime) -> Recording:
    if message.kind == "alias":
        return _alias(message, known, now)
    primary = message.user_id or anonymous_source_id(str(message.anonymous_id))
    source, current = _resolve(primary, known)
    writes: list[CustomerWrite] = []

    profile_update = Profile()
    if message.kind == "identify":
        profile_update = profile_from_traits(message.traits)
    elif message.kind == "group":
        profile_update = Profile(metadata={"group_id": message.group_id, "group": message.traits})

    target, target_write = _upsert(source, current, profile_update, message, now)

    # identify with both ids: the anonymous visitor becomes this customer (DESIGN §6).
    if message.kind == "identify" and message.user_id and message.anonymous_id:
        anonymous = known.get(customer_id_for(anonymous_source_id(message.anonymous_id)))
        if anonymous is not None and anonymous.merged_into is None and anonymous.id != target.id:
            target, target_write = _absorb(target, target_write, anonymous, message, now, writes)

    if target_write is not None:
        writes.insert(0, target_write)
    activity, events = _message_record(message, target, target_write, now)
    return Recording(message=message, customer=target, activity=activity, events=events, customer_writes=writes)


def _alias(message: Message, known: Known, now: datetime) -> Recording:
    source, current = _resolve(str(message.user_id), known)
    target, target_write = _upsert(source, current, Profile(), message, now)
    writes: list[CustomerWrite] = []
    previous = known.get(customer_id_for(str(message.previous_id)))
    if previous is None:
        previous = known.get(customer_id_for(anonymous_source_id(str(message.previous_id))))
    if previous is None:
        # Nothing recorded under the old id yet: leave a pointer so later messages under it land here.
        pointer = Customer.new(anonymous_source_id(str(message.previous_id)), Profile(), now)
        pointer = pointer.merged_into_customer(source, now).model_copy(update={"version": 1})
        writes.append(CustomerWrite(customer=pointer, expected_version=None))
    elif previous.merged_into is None and previous.id != target.id:
        target, target_write = _absorb(target, target_write, previous, message, now, writes)
    if target_write is not None:
        writes.insert(0, target_write)
    activity, events = _message_record(message, target, target_write, now)
    return Recording(message=message, customer=target, activity=activity, events=events, customer_writes=writes)


def record_profile(
    current: Customer | None, source_id: str | None, update: Profile, request_id: str, now: datetime
) -> Recording:
    """A profile written through the API (POST/PUT /v1/customers): an identify carrying Voucherify's fields.

    ``current`` is the stored customer (None: create one; without a source id it gets a random id)."""
    message = Message(index=0, kind="identify", message_id=request_id, user_id=source_id, anonymous_id=None,
                      timestamp=now, deduplicated=False)  # fmt: skip
    target, write = _upsert(source_id, current, update, message, now)
    activity, events = _message_record(message, target, write, now)
    return Recording(message=message, customer=target, activity=activity, events=events,
                     customer_writes=[write] if write else [])  # fmt: skip


def _upsert(
    source: str | None, current: Customer | None, update: Profile, message: Message, now: datetime
) -> tuple[Customer, CustomerWrite | None]:
    if current is None:
        # A customer exists from its first event on, so imported history lists after its creation.
        since = min(message.timestamp, now)
        created = Customer.new(source, Profile().merged_with(update), since).model_copy(update={"version": 1})
        write = CustomerWrite(customer=created, expected_version=None)
        write.events.append(
            CustomerCreated(
                event_id=_event_id(message, CustomerCreated, created),
                occurred_at=now,
                customer=created.ref(),
                profile=created.snapshot(),
            )
        )
        return created, write
    profile = current.profile.merged_with(update)
    changed = profile.changed_paths(current.profile)
    if not changed:
        return current, None
    updated = current.with_profile(profile, now).model_copy(update={"version": current.version + 1})
    write = CustomerWrite(customer=updated, expected_version=current.version)
    write.events.append(
        CustomerUpdated(
            event_id=_event_id(message, CustomerUpdated, updated),
            occurred_at=now,
            customer=updated.ref(),
            changed=changed,
            profile=updated.snapshot(),
        )
    )
    return updated, write


def _absorb(
    target: Customer,
    target_write: CustomerWrite | None,
    other: Customer,
    message: Message,
    now: datetime,
    writes: list[CustomerWrite],
) -> tuple[Customer, CustomerWrite]:
    """Merge ``other`` into ``target``: the target gains its profile gaps, ``other`` points at the target."""
    merged = target.absorbing(other, now).model_copy(update={"version": target.version + 1})
    if target_write is None:
        target_write = CustomerWrite(customer=merged, expected_version=target.version)
    else:
        # Still one write of the target: fold the merge into the create/update already planned.
        merged = merged.model_copy(update={"version": target_write.customer.version})
        target_write.customer = merged
    updated_event = CustomerUpdated(
        event_id=_event_id(message, CustomerUpdated, merged),
        occurred_at=now,
        customer=merged.ref(),
        changed=merged.profile.changed_paths(target.profile),
        merged_from=[str(other.source_id)],
        profile=merged.snapshot(),
    )
    target_write.events = [event for event in target_write.events if not isinstance(event, CustomerUpdated)]
    target_write.events.append(updated_event)
    pointer = other.merged_into_customer(str(merged.source_id), now).model_copy(update={"version": other.version + 1})
    writes.append(CustomerWrite(customer=pointer, expected_version=other.version))
    return merged, target_write


def _message_record(
    message: Message, customer: Customer, write: CustomerWrite | None, now: datetime
) -> tuple[Activity | None, list[DomainEvent]]:
    name = message.recorded_event_name
    if name is not None:
        recorded = RecordedEvent(
            name=name,
            kind="page" if message.kind == "page" else "screen" if message.kind == "screen" else "track",
            message_id=message.message_id,
            timestamp=message.timestamp,
            properties=message.properties,
        )
        activity = Activity(
            id=activity_id(message.timestamp, message.message_id),
            type=CUSTOM_EVENT,
            customer=customer.ref(),
            created_at=message.timestamp,
            data={
                "event": {
                    "type": name,
                    "metadata": message.properties,
                    "kind": message.kind,
                    "message_id": message.message_id,
                }
            },
            group_id=message.message_id,
        )
        event = CustomerEventRecorded(
            event_id=_event_id(message, CustomerEventRecorded, customer),
            occurred_at=now,
            customer=customer.ref(),
            activity_id=activity.id,
            event=recorded,
        )
        return activity, [event]
    updated = [event for event in (write.events if write else []) if isinstance(event, CustomerUpdated)]
    if not updated:
        # A created customer's activity is stored on the customer; an unchanged profile has none.
        return None, []
    return (
        Activity(
            id=activity_id(message.timestamp, message.message_id),
            type="customer.updated",
            customer=customer.ref(),
            created_at=message.timestamp,
            data={"changed": updated[0].changed, "merged_from": updated[0].merged_from},
            group_id=message.message_id,
        ),
        [],
    )


def _event_id(message: Message, kind: type[DomainEvent], customer: Customer) -> str:
    return stable_id("evt_", message.message_id, kind.DETAIL_TYPE, customer.id)
