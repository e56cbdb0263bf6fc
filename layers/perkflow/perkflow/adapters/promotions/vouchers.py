"""Vouchers by code (``CODE#<code>``, unique per project by conditional put) or by id (gsi1 ``VID#<id>``),
their gift-card ledger (``CODE#<code>`` / ``TXN#<id>``) and their session reservations."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from perkflow.adapters.dynamo import GSI1, ConditionFailed, Put, Table, Update
from perkflow.adapters.promotions.items import (
    GENERATION_LANES,
    assignment_item,
    extra_key,
    stored_voucher,
    transaction_item,
    transaction_key,
    transaction_of,
    voucher_item,
    voucher_key,
)
from perkflow.adapters.promotions.writes import Plan, summary_updates, voucher_update, with_events
from perkflow.domain.events import DomainEvent
from perkflow.domain.promotions.state import (
    Assignment,
    BalanceTransaction,
    CodesTaken,
    Replayed,
    StoredVoucher,
    VoucherChange,
    VoucherChanged,
)
from perkflow.domain.promotions.summary import Changes
from perkflow.domain.promotions.vouchers import Voucher
from perkflow.domain.timeutil import iso


class VoucherStore:
    def __init__(self, table: Table, source: str) -> None:
        self.table = table
        self.source = source

    def get(self, code_or_id: str, *, consistent: bool = True) -> StoredVoucher | None:
        item = self.table.get(voucher_key(code_or_id), consistent=consistent)
        if item is None and code_or_id.startswith("v_"):
            page = self.table.query("gsi1pk = :pk", {":pk": f"VID#{code_or_id}"}, index=GSI1, limit=1)
            if page.items:
                item = self.table.get(voucher_key(page.items[0]["code"]), consistent=consistent)
        return stored_voucher(item) if item else None

    def create(self, voucher: Voucher, assignments: Sequence[Assignment]) -> None:
        """A new voucher (a campaign's code is also free for publication and counted with the campaign's)."""
        plan = Plan()
        in_campaign = voucher.campaign_id is not None
        item = voucher_item(
            voucher, available=in_campaign, rule_ids=frozenset(assignment.rule_id for assignment in assignments)
        )
        plan.add(Put(item=item, condition="attribute_not_exists(pk)"), "voucher")
        for assignment in assignments:
            plan.add(Put(item=assignment_item(assignment), condition="attribute_not_exists(pk)"), "assignment")
        if in_campaign:
            lane = extra_key(str(voucher.campaign_id), secrets.randbelow(GENERATION_LANES))
            plan.add(Update(key=lane, expression="ADD n :one", values={":one": 1}), "lane")
        plan.run(self.table, lambda kind, detail, found: CodesTaken({voucher.code}) if kind == "voucher" else None)

    def set_active(self, code: str, active: bool, now: datetime) -> bool:
        try:
            self.table.update(
                voucher_key(code),
                "SET active = :active, updated_at = :now",
                condition="attribute_exists(pk)",
                values={":active": active, ":now": iso(now)},
            )
        except ConditionFailed:
            return False
        return True

    def change_balance(
        self,
        change: VoucherChange,
        transaction: BalanceTransaction,
        answer: dict[str, Any],
        events: Sequence[DomainEvent],
        summary: Changes,
    ) -> None:
        plan = Plan()
        plan.add(voucher_update(change, transaction.created_at), "voucher", change.before.code)
        item = with_events(transaction_item(change.after.code, transaction, answer), self.source, events)
        plan.add(Put(item=item, condition="attribute_not_exists(pk)"), "transaction")
        for update in summary_updates(summary):
            plan.add(update, "summary")

        def refused(kind: str, detail: Any, found: Any) -> Exception | None:
            if kind == "transaction" and found is not None:
                return Replayed(json.loads(found["answer"]))
            if kind == "voucher":
                return VoucherChanged(str(detail), stored_voucher(found) if found else None)
            return None

        plan.run(self.table, refused)

    def transaction_answer(self, code: str, transaction_id: str) -> dict[str, Any] | None:
        item = self.table.get(transaction_key(code, transaction_id), consistent=True)
        return json.loads(item["answer"]) if item else None

    def transactions(self, code: str) -> list[BalanceTransaction]:
        items = self.table.query_all(
            "pk = :pk AND begins_with(sk, :prefix)", {":pk": f"CODE#{code}", ":prefix": "TXN#"}, consistent=True
        )
        return [transaction_of(item) for item in items]

    def release_session(self, code: str, key: str, now: datetime) -> bool:
        try:
            self.table.update(
                voucher_key(code),
                "SET lock_version = lock_version + :one, updated_at = :now REMOVE sessions.#key",
                condition="attribute_exists(sessions.#key)",
                names={"#key": key},
                values={":one": 1, ":now": iso(now)},
            )
        except ConditionFailed:
            return False
        return True
