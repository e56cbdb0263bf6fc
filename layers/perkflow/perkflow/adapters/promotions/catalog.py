"""Campaigns, validation rules and their assignments, and code generation, in the single table.

- A campaign's name is unique by the conditional put of a name item in the campaign's create transaction.
- The directory item (``PROMO`` / ``DIRECTORY``) keeps each campaign's active flag (``a#<id>``) and assigned
  rule ids (``r#<id>``, a string set), so a checkout reads every campaign switch it may need in the same
  BatchGetItem as its vouchers. Each change of a campaign's switches writes the campaign and the directory
  in one transaction.
- Codes are unique by ``attribute_not_exists`` puts of ``CODE#<code>``, up to 99 per transaction with the
  update of the writer's lane counter (``GEN#<lane>``): the codes of a campaign are the sum of its lanes,
  exact whatever retries happen, and lanes never contend with each other.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from perkflow.adapters import outbox
from perkflow.adapters.dynamo import (
    GSI1,
    GSI2,
    ConditionFailed,
    Delete,
    Put,
    Table,
    TransactionCancelled,
    Update,
    codec,
)
from perkflow.adapters.promotions.items import (
    DIRECTORY_KEY,
    GENERATION_LANES,
    active_attribute,
    assignment_item,
    assignment_key,
    assignment_of,
    bulk_voucher_items,
    campaign_item,
    campaign_key,
    campaign_name_key,
    campaign_of,
    extra_key,
    job_key,
    lane_key,
    rule_item,
    rule_key,
    rule_of,
    rules_attribute,
    shape_key,
    voucher_key,
)
from perkflow.adapters.promotions.writes import Plan
from perkflow.domain.errors import Conflict, NotFound
from perkflow.domain.events import DomainEvent, OutboxEntry
from perkflow.domain.promotions.campaigns import Campaign
from perkflow.domain.promotions.rules import ValidationRule
from perkflow.domain.promotions.state import Assignment, Contention, GenerationJob
from perkflow.domain.promotions.vouchers import Voucher
from perkflow.domain.timeutil import iso

T = TypeVar("T")
CODES_PER_TRANSACTION = 99  # + the lane counter = DynamoDB's 100 actions
CONTENTION_ATTEMPTS = 8


def retrying(action: Callable[[], T]) -> T:
    """Run ``action``, again after a short pause when a concurrent transaction held one of its items."""
    for attempt in range(CONTENTION_ATTEMPTS):
        try:
            return action()
        except Contention:
            if attempt == CONTENTION_ATTEMPTS - 1:
                raise
            time.sleep(0.02 * 2**attempt)
    raise AssertionError("unreachable")


class CatalogStore:
    def __init__(self, table: Table, source: str) -> None:
        self.table = table
        self.source = source

    # -- campaigns ----------------------------------------------------------------------------------------------
    def create_campaign(self, campaign: Campaign, assignments: Sequence[Assignment], job: GenerationJob | None) -> None:
        plan = Plan()
        plan.add(Put(item=campaign_item(campaign), condition="attribute_not_exists(pk)"), "campaign")
        name_item = {**campaign_name_key(campaign.name), "campaign_id": campaign.id}
        plan.add(Put(item=name_item, condition="attribute_not_exists(pk)"), "name")
        expression = "SET #a = :active"
        values: dict[str, Any] = {":active": campaign.active}
        if assignments:
            expression += " ADD #r :rules"
            values[":rules"] = {assignment.rule_id for assignment in assignments}
        names = (
            {"#a": active_attribute(campaign.id), "#r": rules_attribute(campaign.id)}
            if assignments
            else {"#a": active_attribute(campaign.id)}
        )
        plan.add(Update(key=DIRECTORY_KEY, expression=expression, names=names, values=values), "directory")
        for assignment in assignments:
            plan.add(Put(item=assignment_item(assignment), condition="attribute_not_exists(pk)"), "assignment")
        if job is not None:
            job_item = {**job_key(campaign.id), "target": job.target, "next_chunk": 0, "done": False}
            plan.add(Put(item=job_item), "job")

        def refused(kind: str, detail: Any, item: Any) -> Exception | None:
            if kind == "name":
                return Conflict(
                    f"Duplicate resource key: campaign {campaign.name}",
                    details=campaign.name,
                    extra={"resource_type": "campaign"},
                )
            return None

        retrying(lambda: plan.run(self.table, refused))

    def campaign(self, id_or_name: str) -> Campaign | None:
        if id_or_name.startswith("camp_"):
            item = self.table.get(campaign_key(id_or_name), consistent=True)
            if item is not None:
                return campaign_of(item)
        named = self.table.get(campaign_name_key(id_or_name), consistent=True)
        if named is None:
            return None
        item = self.table.get(campaign_key(named["campaign_id"]), consistent=True)
        return campaign_of(item) if item else None

    def campaigns(self, limit: int, page: int) -> tuple[list[Campaign], int]:
        items = list(self.table.query_all("gsi2pk = :pk", {":pk": "CAMPAIGNS"}, index=GSI2, forward=False))
        start = (page - 1) * limit
        return [campaign_of(item) for item in items[start : start + limit]], len(items)

    def generated(self, campaign_id: str) -> tuple[int, int]:
        """(codes its generation jobs wrote, codes added otherwise: one by one or minted on publication)."""
        keys = [lane_key(campaign_id, lane) for lane in range(GENERATION_LANES)]
        keys += [extra_key(campaign_id, shard) for shard in range(GENERATION_LANES)]
        counted = self.table.batch_get(keys, consistent=True)
        jobs = sum(int(item.get("n", 0)) for item in counted if not item["sk"].startswith("GEN#x"))
        return jobs, sum(int(item.get("n", 0)) for item in counted) - jobs

    def assignments_of(self, object_id: str) -> list[Assignment]:
        items = self.table.query_all("gsi1pk = :pk", {":pk": f"ASGMOBJ#{object_id}"}, index=GSI1)
        return sorted((assignment_of(item) for item in items), key=lambda assignment: assignment.created_at)

    def set_campaign_active(self, campaign_id: str, active: bool, now: datetime) -> None:
        plan = Plan()
        plan.add(
            Update(
                key=campaign_key(campaign_id),
                expression="SET active = :active, updated_at = :now",
                condition="attribute_exists(pk)",
                values={":active": active, ":now": iso(now)},
            ),
            "campaign",
        )
        plan.add(
            Update(
                key=DIRECTORY_KEY,
                expression="SET #a = :active",
                names={"#a": active_attribute(campaign_id)},
                values={":active": active},
            ),
            "directory",
        )

        def refused(kind: str, detail: Any, item: Any) -> Exception | None:
            return (
                NotFound(f"Resource not found: campaign {campaign_id}", details=campaign_id)
                if kind == "campaign"
                else None
            )

        retrying(lambda: plan.run(self.table, refused))

    # -- code generation ----------------------------------------------------------------------------------------
    def shape_count(self, shape: str) -> int:
        item = self.table.get(shape_key(shape))
        return int(item.get("n", 0)) if item else 0

    def add_shape_count(self, shape: str, count: int) -> None:
        if count:
            self.table.update(shape_key(shape), "ADD n :n", values={":n": count})

    def job(self, campaign_id: str) -> GenerationJob | None:
        item = self.table.get(job_key(campaign_id), consistent=True)
        return _job(campaign_id, item) if item else None

    def raise_target(self, campaign_id: str, count: int, now: datetime) -> GenerationJob:
        item = self.table.update(
            job_key(campaign_id),
            "SET done = :false, next_chunk = if_not_exists(next_chunk, :zero) ADD target :n",
            values={":false": False, ":zero": 0, ":n": count},
            return_new=True,
        )
        self.table.update(
            campaign_key(campaign_id),
            "SET generation_status = :status, updated_at = :now",
            values={":status": "IN_PROGRESS", ":now": iso(now)},
        )
        assert item is not None
        return _job(campaign_id, item)

    def lease(self, campaign_id: str, chunk: int, now: datetime, seconds: int) -> GenerationJob | None:
        moment = int(now.timestamp())
        try:
            item = self.table.update(
                job_key(campaign_id),
                "SET lease_until = :until",
                condition="next_chunk = :chunk AND done = :false"
                " AND (attribute_not_exists(lease_until) OR lease_until < :now)",
                values={":until": moment + seconds, ":chunk": chunk, ":false": False, ":now": moment},
                return_new=True,
            )
        except ConditionFailed as refused:
            stored = refused.item
            if stored is None:
                raise Contention() from refused  # the campaign's job is not written yet: try again later
            if stored.get("done") or int(stored.get("next_chunk", 0)) != chunk:
                return None  # this chunk was done before (a repeated message)
            raise Contention() from refused  # another invocation holds the lease
        assert item is not None
        return _job(campaign_id, item)

    def write_codes(self, prototype: Voucher, codes: Sequence[str], lane: int) -> set[str]:
        """Store up to 99 new codes of ``prototype``'s campaign with the lane's count, all or nothing; the
        codes found taken (nothing was written then: draw replacements and write again)."""
        if not codes:
            return set()
        assert len(codes) <= CODES_PER_TRANSACTION
        campaign_id = prototype.campaign_id
        assert campaign_id is not None
        name = self.table.name
        # Already in wire format (bulk_voucher_items serializes the template once): the hot loop skips the
        # per-item serializer of Table.transact.
        actions: list[Any] = [
            {"Put": {"TableName": name, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}
            for item in bulk_voucher_items(prototype, codes)
        ]
        lane_update = {
            "TableName": name,
            "Key": codec().dump(lane_key(campaign_id, lane)),
            "UpdateExpression": "ADD n :n",
            "ExpressionAttributeValues": {":n": {"N": str(len(codes))}},
        }
        actions.append({"Update": lane_update})
        client = self.table.client
        try:
            client.transact_write_items(TransactItems=actions)
        except client.exceptions.TransactionCanceledException as cancelled:
            reasons = [reason.get("Code") for reason in cancelled.response.get("CancellationReasons", [])]
            refused = enumerate(reasons[: len(codes)])
            taken = {codes[index] for index, code in refused if code == "ConditionalCheckFailed"}
            if taken:
                return taken
            if "TransactionConflict" in reasons:
                raise Contention() from cancelled
            raise
        return set()

    def advance(self, campaign_id: str, chunk: int) -> None:
        self.table.update(
            job_key(campaign_id),
            "SET next_chunk = :next REMOVE lease_until",
            condition="next_chunk = :chunk",
            values={":next": chunk + 1, ":chunk": chunk},
        )

    def finish(self, campaign: Campaign, generated: int, event: DomainEvent, now: datetime) -> None:
        """Mark the generation DONE and store its completion event with it (once)."""
        entries = outbox.encode([OutboxEntry.of(self.source, event)])
        try:
            self.table.transact(
                [
                    Update(
                        key=campaign_key(campaign.id),
                        expression="SET generation_status = :done, updated_at = :now, outbox = :outbox",
                        condition="generation_status = :running",
                        values={":done": "DONE", ":now": iso(now), ":outbox": entries, ":running": "IN_PROGRESS"},
                    ),
                    Update(
                        key=job_key(campaign.id),
                        expression="SET done = :true, generated = :generated REMOVE lease_until",
                        values={":true": True, ":generated": generated},
                    ),
                ]
            )
        except TransactionCancelled as cancelled:
            if cancelled.failed_at() != [0]:
                raise
            # Finished before (a repeated message): nothing to do.

    # -- rules and assignments --------------------------------------------------------------------------------
    def create_rule(self, rule: ValidationRule) -> None:
        self.table.put(rule_item(rule), condition="attribute_not_exists(pk)")

    def rule(self, rule_id: str) -> ValidationRule | None:
        item = self.table.get(rule_key(rule_id), consistent=True)
        return rule_of(item) if item else None

    def rules(self, limit: int) -> list[ValidationRule]:
        page = self.table.query("gsi2pk = :pk", {":pk": "RULES"}, index=GSI2, forward=False, limit=limit)
        return [rule_of(item) for item in page.items]

    def assignments(self, rule_id: str) -> list[Assignment]:
        items = self.table.query_all(
            "pk = :pk AND begins_with(sk, :prefix)", {":pk": f"VAL#{rule_id}", ":prefix": "ASGM#"}, consistent=True
        )
        return sorted((assignment_of(item) for item in items), key=lambda assignment: assignment.created_at)

    def assign(self, assignment: Assignment, voucher_code: str | None = None) -> None:
        """``voucher_code``: the code of the voucher a voucher assignment names by id."""
        plan = Plan()
        plan.add(Put(item=assignment_item(assignment), condition="attribute_not_exists(pk)"), "assignment")
        plan.add(self._switch(assignment, "ADD", voucher_code), "object")

        def refused(kind: str, detail: Any, item: Any) -> Exception | None:
            if kind == "assignment":
                return Conflict(
                    "Duplicate resource key: validation rule assignment",
                    details=f"{assignment.rule_id} is already assigned to {assignment.related_object_id}",
                )
            return NotFound(
                f"Resource not found: {assignment.related_object_type} {assignment.related_object_id}",
                details=assignment.related_object_id,
                extra={"resource_id": assignment.related_object_id, "resource_type": assignment.related_object_type},
            )

        retrying(lambda: plan.run(self.table, refused))

    def unassign(self, assignment: Assignment, voucher_code: str | None = None) -> None:
        plan = Plan()
        key = assignment_key(assignment.rule_id, assignment.related_object_type, assignment.related_object_id)
        plan.add(Delete(key=key, condition="attribute_exists(pk)"), "assignment")
        plan.add(self._switch(assignment, "DELETE", voucher_code), "object")
        retrying(lambda: plan.run(self.table, lambda kind, detail, item: NotFound(details=assignment.id)))

    @staticmethod
    def _switch(assignment: Assignment, verb: str, voucher_code: str | None) -> Update:
        """The rule id added to / removed from the object that reads it at checkout."""
        if assignment.related_object_type == "campaign":
            return Update(
                key=DIRECTORY_KEY,
                expression=f"{verb} #r :rule",
                condition="attribute_exists(#a)",
                names={
                    "#r": rules_attribute(assignment.related_object_id),
                    "#a": active_attribute(assignment.related_object_id),
                },
                values={":rule": {assignment.rule_id}},
            )
        return Update(
            key=voucher_key(voucher_code or assignment.related_object_id),
            expression=f"{verb} rule_ids :rule",
            condition="attribute_exists(pk)",
            values={":rule": {assignment.rule_id}},
        )


def _job(campaign_id: str, item: dict[str, Any]) -> GenerationJob:
    return GenerationJob(
        campaign_id=campaign_id,
        target=int(item.get("target", 0)),
        next_chunk=int(item.get("next_chunk", 0)),
        done=bool(item.get("done", False)),
    )
