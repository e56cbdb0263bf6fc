"""Validation, redemption and rollback storage: one BatchGetItem reads everything a checkout needs, one
TransactWriteItems stores everything a redemption changes.

The read: the campaign directory (every campaign's active flag and rule ids, one small item), each voucher
by code, the customer, the customer's segment state, the customer's uses of each code (per-customer rule
counts), and the record an idempotency key would have left. Rule definitions are immutable, so they are
cached per container. The write: each voucher's guarded change, the redemption records (with their events
and activities), the per-customer use counters, the customer summary counters and, for a new customer, the
customer itself.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from perkflow.adapters.customers import customer_from_item, customer_key
from perkflow.adapters.dynamo import GSI1, GSI2, Item, Put, Table, Update
from perkflow.adapters.promotions.items import (
    DIRECTORY_KEY,
    dumps,
    redemption_item,
    redemption_key,
    redemption_of,
    rollback_item,
    rule_key,
    rule_of,
    stored_voucher,
    uses_key,
    voucher_key,
)
from perkflow.adapters.promotions.writes import Plan, customer_put, summary_updates, voucher_update, with_events
from perkflow.adapters.segment_memberships import segment_state_key
from perkflow.domain.customers import Customer, customer_id_for
from perkflow.domain.promotions.redemptions import Redemption
from perkflow.domain.promotions.rollbacks import RedemptionRollback
from perkflow.domain.promotions.rules import ValidationRule
from perkflow.domain.promotions.state import (
    AlreadyRolledBack,
    CampaignSwitches,
    CheckoutState,
    CustomerChanged,
    RedemptionCommit,
    RefusalCommit,
    Replayed,
    RollbackCommit,
    StoredVoucher,
    UsesChanged,
    VoucherChange,
    VoucherChanged,
)

MAX_MERGE_HOPS = 5


def directory_of(item: Item | None) -> dict[str, CampaignSwitches]:
    """Every campaign's switches from the directory item (``a#<id>`` active, ``r#<id>`` rule ids)."""
    if not item:
        return {}
    switches: dict[str, CampaignSwitches] = {}
    for name, value in item.items():
        if name.startswith("a#"):
            campaign_id = name[2:]
            switches[campaign_id] = CampaignSwitches(
                active=bool(value), rule_ids=frozenset(item.get(f"r#{campaign_id}") or ())
            )
    return switches


class RuleBook:
    """Validation rule sets by id. They never change once created, so each container caches them."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self._cache: dict[str, ValidationRule] = {}
        self._lock = threading.Lock()

    def get(self, rule_ids: Iterable[str]) -> dict[str, ValidationRule]:
        wanted = sorted(set(rule_ids))
        missing = [rule_id for rule_id in wanted if rule_id not in self._cache]
        if missing:
            found = [rule_of(item) for item in self.table.batch_get([rule_key(rule_id) for rule_id in missing])]
            with self._lock:
                self._cache.update({rule.id: rule for rule in found})
        return {rule_id: self._cache[rule_id] for rule_id in wanted if rule_id in self._cache}

    def remember(self, rule: ValidationRule) -> None:
        with self._lock:
            self._cache[rule.id] = rule


class CheckoutStore:
    def __init__(self, table: Table, source: str) -> None:
        self.table = table
        self.source = source

    # -- the read -----------------------------------------------------------------------------------------
    def load(self, codes: Sequence[str], customer_id: str | None, replay_id: str | None = None) -> CheckoutState:
        keys = [DIRECTORY_KEY, *(voucher_key(code) for code in codes)]
        if customer_id is not None:
            keys += [customer_key(customer_id), segment_state_key(customer_id)]
            keys += [uses_key(code, customer_id) for code in codes]
        if replay_id is not None:
            keys.append(redemption_key(replay_id))
        items = self.table.batch_get(keys, consistent=True)
        by_key = {(item["pk"], item["sk"]): item for item in items}

        def found(key: dict[str, str]) -> Item | None:
            return by_key.get((key["pk"], key["sk"]))

        customer: Customer | None = None
        segments: frozenset[str] = frozenset()
        if customer_id is not None:
            customer_item = found(customer_key(customer_id))
            customer = customer_from_item(customer_item) if customer_item else None
            if customer is not None and customer.merged_into:
                return self._merged(codes, customer, replay_id)
            state_item = found(segment_state_key(customer_id)) or {}
            segments = frozenset(state_item.get("members") or ())
        vouchers: dict[str, StoredVoucher] = {}
        for code in codes:
            item = found(voucher_key(code))
            if item is not None:
                vouchers[code] = stored_voucher(item)
        missing_ids = [code for code in codes if code not in vouchers and code.startswith("v_")]
        uses: dict[str, int] = {}
        if customer_id is not None:
            uses = {code: int((found(uses_key(code, customer_id)) or {}).get("n", 0)) for code in vouchers}
        if missing_ids:
            self._by_ids(missing_ids, vouchers, uses, customer_id)
        replay_item = found(redemption_key(replay_id)) if replay_id else None
        replay = json.loads(replay_item["answer"]) if replay_item and replay_item.get("answer") else None
        return CheckoutState(
            vouchers=vouchers,
            campaigns=directory_of(found(DIRECTORY_KEY)),
            customer=customer,
            segment_ids=segments,
            uses=uses,
            replay=replay,
        )

    def _merged(self, codes: Sequence[str], customer: Customer, replay_id: str | None) -> CheckoutState:
        target = customer
        for _ in range(MAX_MERGE_HOPS):
            if not target.merged_into:
                break
            item = self.table.get(customer_key(customer_id_for(target.merged_into)), consistent=True)
            if item is None:
                break
            target = customer_from_item(item)
        return self.load(codes, target.id, replay_id)

    def _by_ids(
        self, ids: list[str], vouchers: dict[str, StoredVoucher], uses: dict[str, int], customer_id: str | None
    ) -> None:
        """Redeemables named by ``v_`` id rather than code (a second round trip, only for those)."""
        for voucher_id in ids:
            page = self.table.query("gsi1pk = :pk", {":pk": f"VID#{voucher_id}"}, index=GSI1, limit=1)
            if page.items:
                item = self.table.get(voucher_key(page.items[0]["code"]), consistent=True)
                if item is not None:
                    vouchers[voucher_id] = stored_voucher(item)
                    if customer_id is not None:
                        count = self.table.get(uses_key(item["code"], customer_id), consistent=True) or {}
                        uses[voucher_id] = int(count.get("n", 0))

    # -- the writes ---------------------------------------------------------------------------------------
    def commit_redemption(self, commit: RedemptionCommit) -> None:
        plan = Plan()
        answering = commit.plan.parent.id if commit.plan.parent is not None else commit.plan.redemptions[0].id
        for change in commit.changes:
            plan.add(voucher_update(change, commit.now, require_active=True), "voucher", change.before.code)
        codes = {change.after.id: change.after.code for change in commit.changes}
        for announced in commit.announced:
            record = announced.record
            item = redemption_item(
                record,
                codes.get(record.related_object_id),
                answer=commit.answer if record.id == answering else None,
            )
            with_events(item, self.source, [announced.event], announced.activity)
            guard = "attribute_not_exists(pk)"
            plan.add(Put(item=item, condition=guard), "answer" if record.id == answering else "record", record.id)
        if commit.plan.parent is not None:
            parent = redemption_item(commit.plan.parent, None, answer=commit.answer)
            parent["children"] = [record.id for record in commit.plan.redemptions]
            plan.add(Put(item=parent, condition="attribute_not_exists(pk)"), "answer", parent["id"])
        customer = commit.plan.stack.customer
        if customer is not None:
            for code, seen in sorted(commit.uses.items()):
                condition = "attribute_not_exists(n) OR n = :seen" if seen == 0 else "n = :seen"
                plan.add(
                    Update(
                        key=uses_key(code, customer.id),
                        expression="ADD n :one",
                        condition=condition,
                        values={":one": 1, ":seen": seen},
                    ),
                    "uses",
                    code,
                )
        if commit.customer_write is not None:
            plan.add(customer_put(commit.customer_write, self.source, self.table), "customer")
        for update in summary_updates(commit.summary):
            plan.add(update, "summary")

        def refused(kind: str, detail: Any, item: Item | None) -> Exception | None:
            if kind == "answer" and item is not None and item.get("answer"):
                return Replayed(json.loads(item["answer"]))
            if kind == "voucher":
                return VoucherChanged(str(detail), stored_voucher(item) if item else None)
            if kind == "uses":
                return UsesChanged()
            if kind == "customer":
                return CustomerChanged()
            return None

        plan.run(self.table, refused)

    def commit_refusal(self, commit: RefusalCommit) -> None:
        plan = Plan()
        item = redemption_item(commit.announced.record, commit.voucher_code)
        with_events(item, self.source, [commit.announced.event], commit.announced.activity)
        plan.add(Put(item=item, condition="attribute_not_exists(pk)"), "record")
        for update in summary_updates(commit.summary):
            plan.add(update, "summary")
        plan.run(self.table, lambda kind, detail, item: None)

    def reserve(self, changes: Sequence[VoucherChange], now: Any) -> None:
        """Store LOCK session reservations (one guarded voucher update each, in one transaction)."""
        plan = Plan()
        for change in changes:
            plan.add(voucher_update(change, now), "voucher", change.before.code)
        plan.run(
            self.table, lambda kind, detail, item: VoucherChanged(str(detail), stored_voucher(item) if item else None)
        )

    def commit_rollback(self, commit: RollbackCommit) -> None:
        plan = Plan()
        assert commit.now is not None
        for redemption in commit.redemptions:
            plan.add(
                Update(
                    key=redemption_key(redemption.id),
                    expression="SET #status = :rolled",
                    condition="#status = :succeeded",
                    names={"#status": "status"},
                    values={":rolled": "ROLLED_BACK", ":succeeded": "SUCCEEDED"},
                ),
                "redemption",
                redemption.id,
            )
        if commit.parent is not None:
            plan.add(
                Update(
                    key=redemption_key(commit.parent.id),
                    expression="SET #status = :rolled",
                    condition="#status = :succeeded",
                    names={"#status": "status"},
                    values={":rolled": "ROLLED_BACK", ":succeeded": "SUCCEEDED"},
                ),
                "redemption",
                commit.parent.id,
            )
        for change in commit.changes:
            plan.add(voucher_update(change, commit.now), "voucher", change.before.code)
        codes = {change.after.id: change.after.code for change in commit.changes}
        for record, event, activity in zip(commit.records, commit.events, commit.activities, strict=True):
            item = rollback_item(record, codes.get(record.related_object_id))
            with_events(item, self.source, [event], activity)
            plan.add(Put(item=item, condition="attribute_not_exists(pk)"), "record")
        if commit.parent_record is not None:
            item = rollback_item(commit.parent_record, None)
            item["answer"] = dumps(commit.answer)
            plan.add(Put(item=item, condition="attribute_not_exists(pk)"), "record")
        if commit.customer_id is not None:
            for change in commit.changes:
                plan.add(
                    Update(
                        key=uses_key(change.after.code, commit.customer_id),
                        expression="ADD n :minus",
                        values={":minus": -1},
                    ),
                    "uses",
                )
        for update in summary_updates(commit.summary):
            plan.add(update, "summary")

        def refused(kind: str, detail: Any, item: Item | None) -> Exception | None:
            if kind == "redemption":
                return AlreadyRolledBack(str(detail))
            if kind == "voucher":
                return VoucherChanged(str(detail), stored_voucher(item) if item else None)
            return None

        plan.run(self.table, refused)

    # -- reads of records ---------------------------------------------------------------------------------
    def redemption(self, redemption_id: str) -> tuple[Item, Redemption | RedemptionRollback] | None:
        from perkflow.adapters.promotions.items import rollback_of

        item = self.table.get(redemption_key(redemption_id), consistent=True)
        if item is None:
            return None
        return item, rollback_of(item) if item.get("kind") == "rollback" else redemption_of(item)

    def redemptions(self, redemption_ids: Sequence[str]) -> list[Redemption]:
        items = self.table.batch_get([redemption_key(rid) for rid in redemption_ids], consistent=True)
        by_id = {item["id"]: redemption_of(item) for item in items if item.get("kind") == "redemption"}
        return [by_id[rid] for rid in redemption_ids if rid in by_id]

    def vouchers(self, codes: Sequence[str]) -> dict[str, StoredVoucher]:
        items = self.table.batch_get([voucher_key(code) for code in codes], consistent=True)
        return {item["code"]: stored_voucher(item) for item in items}

    def voucher_entries(self, code: str, limit: int) -> list[dict[str, Any]]:
        """The redemptions and rollbacks of a code, newest first (``GET /v1/vouchers/{code}/redemption``)."""
        page = self.table.query("gsi2pk = :pk", {":pk": f"VRED#{code}"}, index=GSI2, forward=False, limit=limit)
        return [_entry(item) for item in page.items]

    def customer_entries(self, customer_id: str, limit: int) -> list[dict[str, Any]]:
        """A customer's redemptions and rollbacks, newest first (from their activity listing)."""
        entries: list[dict[str, Any]] = []
        start = None
        while len(entries) < limit:
            page = self.table.query(
                "gsi1pk = :pk AND begins_with(gsi1sk, :prefix)",
                {":pk": f"ACT#{customer_id}", ":prefix": "evcus_", ":red": "RED"},
                index=GSI1,
                forward=False,
                filter_expression="sk = :red",
                limit=100,
                start=start,
            )
            entries += [_entry(item) for item in page.items]
            if page.next_key is None:
                break
            start = page.next_key
        return entries[:limit]


def _entry(item: Item) -> dict[str, Any]:
    from perkflow.adapters.promotions.items import rollback_of

    if item.get("kind") == "rollback":
        return rollback_of(item).as_voucherify()
    return redemption_of(item).as_voucherify()
