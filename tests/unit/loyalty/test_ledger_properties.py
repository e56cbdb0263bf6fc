"""Property tests of the points ledger: whatever happens, in any order and replayed any number of times, the
balances are derived consistently from the entries, nothing is ever negative, and a replay changes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perkflow.domain.loyalty import ledger
from perkflow.domain.loyalty.calendar import NEVER
from perkflow.domain.loyalty.errors import PointsExceeded
from perkflow.domain.loyalty.ledger import Account, LedgerEntry
from tests.unit.loyalty.factories import MICHAEL, NOW

BUCKETS = ["2026-12-01", "2026-12-31", "2027-03-31", NEVER]


def fresh() -> Account:
    return Account(program_id="camp_p", customer=MICHAEL, member_id="v_m", code="LC-1", joined_at=NOW)


@dataclass
class Book:
    """An account and its ledger as storage keeps them: an entry per key, written once."""

    account: Account = field(default_factory=fresh)
    entries: dict[str, LedgerEntry] = field(default_factory=dict)

    def apply(self, op: tuple[Any, ...]) -> None:
        kind, key = op[0], str(op[1])
        if key in self.entries:
            return  # the conditional put of an existing key: a replay writes nothing
        account = self.account
        entry: LedgerEntry | None = None
        now = NOW + timedelta(seconds=len(self.entries))
        try:
            if kind == "credit":
                account, entry = ledger.credit(account, key=key, points=int(op[2]), bucket=str(op[3]), now=now)
            elif kind == "spend":
                account, entry = ledger.debit(
                    account,
                    key=key,
                    points=int(op[2]),
                    counted_as="spent",
                    type="POINTS_REDEMPTION",
                    now=now,
                )
            elif kind == "remove":
                account, entry = ledger.debit(
                    account, key=key, points=min(int(op[2]), account.balance), counted_as="removed",
                    type="POINTS_REMOVAL", now=now,
                )  # fmt: skip
            elif kind == "expire":
                account, entry = ledger.expire(account, str(op[2]), key=key, now=now)
            elif kind == "refund":
                spend = self.entries.get(str(op[2]))
                if spend is None or spend.type != "POINTS_REDEMPTION" or f"refunded:{op[2]}" in self.entries:
                    return
                account, entry = ledger.refund(account, spend, key=key, now=now)
                self.entries[f"refunded:{op[2]}"] = entry
            elif kind == "pend":
                account, entry, _ = ledger.add_pending(
                    account,
                    key=key,
                    points=int(op[2]),
                    activates_on=NOW.date(),
                    now=now,
                    source={},
                )
            elif kind == "activate":
                pending = sorted(account.pending)
                if not pending:
                    return
                account, item = ledger.drop_pending(account, pending[0])
                account, entry = ledger.credit(
                    account, key=key, points=item.points, bucket=NEVER, now=now, type="PENDING_POINTS_ACTIVATION",
                    pending=-item.points,
                )  # fmt: skip
            elif kind == "cancel":
                pending = sorted(account.pending)
                if not pending:
                    return
                account, entry = ledger.cancel_pending(account, pending[0], key=key, now=now)
        except PointsExceeded:
            return
        assert entry is not None
        self.account = account
        self.entries[key] = entry


operation = st.one_of(
    st.tuples(st.just("credit"), st.integers(0, 30), st.integers(1, 500), st.sampled_from(BUCKETS)),
    st.tuples(st.just("spend"), st.integers(0, 30), st.integers(1, 700)),
    st.tuples(st.just("remove"), st.integers(0, 30), st.integers(1, 700)),
    st.tuples(st.just("expire"), st.integers(0, 30), st.sampled_from(BUCKETS)),
    st.tuples(st.just("refund"), st.integers(0, 30), st.integers(0, 30)),
    st.tuples(st.just("pend"), st.integers(0, 30), st.integers(1, 300)),
    st.tuples(st.just("activate"), st.integers(0, 30)),
    st.tuples(st.just("cancel"), st.integers(0, 30)),
)


def keyed(ops: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Give each operation a key as storage would (the source's id), e.g. ``spend:7``; a referenced spend is
    named by its key too."""
    result = []
    for op in ops:
        kind, number, *rest = op
        if kind == "refund":
            rest = [f"spend:{rest[0]}"]
        result.append((kind, f"{kind}:{number}", *rest))
    return result


@settings(max_examples=300, deadline=None)
@given(st.lists(operation, max_size=40))
def test_balances_are_derived_consistently_and_never_negative(ops: list[tuple[Any, ...]]) -> None:
    book = Book()
    for op in keyed(ops):
        book.apply(op)
        account = book.account
        assert account.consistent()
        assert account.balance >= 0
        assert all(points > 0 for points in account.lots.values())
        assert all(item.points > 0 for item in account.pending.values())
        entries = [entry for key, entry in book.entries.items() if not key.startswith("refunded:")]
        # The materialised balances are exactly what the ledger says.
        assert sum(entry.points for entry in entries) == account.balance
        assert sum(entry.pending for entry in entries) == account.pending_points
        # Every entry records the balance it left, and no entry ever left a negative one.
        assert all(entry.balance >= 0 for entry in entries)


@settings(max_examples=200, deadline=None)
@given(st.lists(operation, max_size=30), st.data())
def test_replaying_any_input_changes_nothing(ops: list[tuple[Any, ...]], data: st.DataObject) -> None:
    once = Book()
    for op in keyed(ops):
        once.apply(op)
    replayed = Book()
    for op in keyed(ops):
        replayed.apply(op)
        for _ in range(data.draw(st.integers(0, 2))):
            replayed.apply(op)  # redelivered at once
    assert replayed.account == once.account
    assert replayed.entries.keys() == once.entries.keys()
    stored = [op for op in keyed(ops) if op[1] in once.entries]
    for op in data.draw(st.permutations(stored)):
        replayed.apply(op)  # every stored input again, later, in any order
    assert replayed.account == once.account
    assert replayed.entries == once.entries


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 200), st.sampled_from(BUCKETS)), min_size=1, max_size=8), st.integers(1, 900))
def test_spending_takes_the_soonest_expiring_points_first(credits: list[tuple[int, str]], spend: int) -> None:
    account = fresh()
    for index, (points, bucket) in enumerate(credits):
        account, _ = ledger.credit(account, key=f"c{index}", points=points, bucket=bucket, now=NOW)
    if spend > account.balance:
        with pytest.raises(PointsExceeded):
            ledger.debit(account, key="s", points=spend, counted_as="spent", type="POINTS_REDEMPTION", now=NOW)
        return
    after, entry = ledger.debit(account, key="s", points=spend, counted_as="spent", type="POINTS_REDEMPTION", now=NOW)
    taken = sorted(entry.allocations)
    untouched = [bucket for bucket in sorted(account.lots) if bucket not in entry.allocations]
    # Every bucket taken from (but the last) was emptied, and every untouched one expires later.
    assert all(after.lots.get(bucket, 0) == 0 for bucket in taken[:-1])
    assert all(bucket > taken[-1] for bucket in untouched)
    assert sum(entry.allocations.values()) == spend


def test_an_overdraft_is_refused_and_changes_nothing() -> None:
    account, _ = ledger.credit(fresh(), key="c", points=10, bucket=NEVER, now=NOW)
    with pytest.raises(PointsExceeded) as refused:
        ledger.debit(account, key="s", points=11, counted_as="spent", type="POINTS_REDEMPTION", now=NOW)
    assert refused.value.key == "loyalty_card_points_exceeded"
    assert account.balance == 10
    assert account.consistent()
