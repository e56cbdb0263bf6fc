"""Transaction actions the promotion stores share: guarded voucher changes, summary counters, records with
their events and activities, and reading a cancelled transaction back into the domain's refusals."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from perkflow.adapters import outbox
from perkflow.adapters.customers import CustomerStore, activity_attributes
from perkflow.adapters.dynamo import Action, Item, Put, Table, TransactionCancelled, Update
from perkflow.adapters.promotions.items import reservation_value, stored_voucher, summary_key, voucher_key
from perkflow.domain.activities import Activity
from perkflow.domain.events import DomainEvent, OutboxEntry
from perkflow.domain.promotions.state import Contention, VoucherChange, VoucherChanged
from perkflow.domain.promotions.summary import Changes
from perkflow.domain.recording import CustomerWrite
from perkflow.domain.timeutil import iso

MAX_ACTIONS = 100  # DynamoDB's TransactWriteItems limit


def with_events(item: Item, source: str, events: Sequence[DomainEvent], activity: Activity | None = None) -> Item:
    """The item carrying its events (the outbox) and, when it is one, listed as the customer's activity."""
    if activity is not None:
        item.update(activity_attributes(activity.customer.id, activity, events))
    return outbox.attach(item, [OutboxEntry.of(source, event) for event in events])


def summary_updates(changes: Changes) -> list[Update]:
    updates = []
    for customer_id, change in sorted(changes.items()):
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        adds, sets = [], []
        for index, (name, amount) in enumerate(sorted(change.adds.items())):
            names[f"#a{index}"], values[f":a{index}"] = name, amount
            adds.append(f"#a{index} :a{index}")
        for index, (name, value) in enumerate(sorted(change.sets.items())):
            names[f"#s{index}"], values[f":s{index}"] = name, value
            sets.append(f"#s{index} = :s{index}")
        expression = " ".join(
            part
            for part in ("SET " + ", ".join(sets) if sets else "", "ADD " + ", ".join(adds) if adds else "")
            if part
        )
        updates.append(Update(key=summary_key(customer_id), expression=expression, names=names, values=values))
    return updates


@dataclass
class _Expression:
    sets: list[str] = field(default_factory=list)
    removes: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=lambda: ["attribute_exists(pk)"])
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def update(self, key: dict[str, str]) -> Update:
        expression = "SET " + ", ".join(self.sets)
        if self.removes:
            expression += " REMOVE " + ", ".join(self.removes)
        return Update(
            key=key,
            expression=expression,
            condition=" AND ".join(self.conditions),
            names=self.names,
            values=self.values,
        )


def voucher_update(
    change: VoucherChange,
    now: datetime,
    *,
    require_active: bool = False,
    publish: bool = False,
    claim_from_pool: bool = False,
    guard_balance: bool = True,
) -> Update:
    """The guarded change of one voucher, as deltas of its counters.

    Guards: a gift card's balance must be the one the change was decided on (so the answered balance is
    exact; a concurrent change makes the caller decide again with the state the refusal returns); a
    voucher with a redemption limit guards ``redeemed_quantity`` the same way; ``lock_version`` guards the
    session reservations; an unlimited discount code takes concurrent redemptions without conflict.
    """
    before, after = change.before.voucher, change.after
    e = _Expression()
    e.values.update({":now": iso(now), ":lv": change.before.lock_version})
    e.sets.append("updated_at = :now")
    e.conditions.append("lock_version = :lv")
    deltas = {
        "redeemed_quantity": after.redeemed_quantity - before.redeemed_quantity,
        "redeemed_amount": after.redeemed_amount - before.redeemed_amount,
        "publish_count": after.publish_count - before.publish_count,
    }
    if before.gift is not None and after.gift is not None:
        deltas["balance"] = after.gift.balance - before.gift.balance
        deltas["gift_amount"] = after.gift.amount - before.gift.amount
        deltas["subtracted"] = after.gift.subtracted_amount - before.gift.subtracted_amount
        if guard_balance:
            e.conditions.append("balance = :seen_balance")
            e.values[":seen_balance"] = before.gift.balance
    for index, (name, delta) in enumerate(sorted(deltas.items())):
        if delta:
            e.names[f"#d{index}"] = name
            e.values[f":d{index}"] = delta
            e.sets.append(f"#d{index} = #d{index} + :d{index}")
    if before.redemption_quantity is not None and deltas["redeemed_quantity"]:
        e.conditions.append("redeemed_quantity = :seen_quantity")
        e.values[":seen_quantity"] = before.redeemed_quantity
    if require_active:
        e.conditions.append("active = :true")
        e.values[":true"] = True
    if publish:
        e.sets.append("holder_id = :holder")
        e.values[":holder"] = after.holder_id
        if after.expiration_date is not None:
            e.sets.append("expiration_date = :expires")
            e.values[":expires"] = iso(after.expiration_date)
        if claim_from_pool:
            e.conditions.append("attribute_exists(gsi2pk)")
            e.removes += ["gsi2pk", "gsi2sk"]
        else:
            e.conditions.append("attribute_not_exists(holder_id)")
    sessions_changed = False
    adding = change.add_reservation.key if change.add_reservation is not None else None
    held = {item.key for item in change.before.reservations}
    stale = [item.key for item in change.before.reservations if not item.active(now)]
    consumed = [change.consume_session] if change.consume_session else []
    removed = [key for key in dict.fromkeys([*stale, *consumed]) if key in held and key != adding]
    for index, key in enumerate(removed):
        e.names[f"#r{index}"] = key
        e.removes.append(f"sessions.#r{index}")
        sessions_changed = True
    if change.add_reservation is not None:
        e.names["#new"] = change.add_reservation.key
        e.values[":reservation"] = reservation_value(change.add_reservation)
        e.sets.append("sessions.#new = :reservation")
        sessions_changed = True
    if sessions_changed:
        e.sets.append("lock_version = lock_version + :one")
        e.values[":one"] = 1
    return e.update(voucher_key(after.code))


def customer_put(write: CustomerWrite, source: str, table: Table) -> Put:
    """The customer's create/update as the customers adapter writes it (same item, same events)."""
    return CustomerStore(table, source=source).customer_put(write)


@dataclass
class Plan:
    """Transaction actions with what each one means, to read a cancellation back."""

    actions: list[Action] = field(default_factory=list)
    meanings: list[tuple[str, Any]] = field(default_factory=list)

    def add(self, action: Action, kind: str, detail: Any = None) -> None:
        self.actions.append(action)
        self.meanings.append((kind, detail))

    def run(self, table: Table, on_failure: Callable[[str, Any, Item | None], Exception | None]) -> None:
        """Write all actions in one transaction; a refused condition becomes what ``on_failure`` returns for
        the first action that explains it (vouchers are checked last: their refusals retry)."""
        if len(self.actions) > MAX_ACTIONS:
            from perkflow.domain.promotions.errors import InvalidRedeemables

            raise InvalidRedeemables("Invalid redeemables", details="too many changes for one transaction")
        try:
            table.transact(self.actions)
        except TransactionCancelled as cancelled:
            failed = [
                (self.meanings[index], reason.item)
                for index, reason in enumerate(cancelled.reasons)
                if reason.code == "ConditionalCheckFailed"
            ]
            failed.sort(key=lambda entry: entry[0][0] in ("voucher", "minted"))
            for (kind, detail), item in failed:
                error = on_failure(kind, detail, item)
                if error is not None:
                    raise error from cancelled
            if any(reason.code == "TransactionConflict" for reason in cancelled.reasons):
                raise Contention() from cancelled
            raise


def voucher_refusal(kind: str, detail: Any, item: Item | None) -> Exception | None:
    if kind == "voucher":
        return VoucherChanged(str(detail), stored_voucher(item) if item else None)
    return None
