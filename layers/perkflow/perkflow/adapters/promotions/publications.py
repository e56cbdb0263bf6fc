"""Publications: picking free codes without a hot item, and storing a publication in one transaction.

A campaign's codes that are free for publication sit in gsi2 under ``AVAIL#<campaign>#<shard>`` (16 shards,
random sort keys), so concurrent publications read different index partitions and rarely want the same
code. Taking a code is an update conditional on it still being in that index (the update removes it), so
two publications never get one code. The publication item's id derives from ``source_id`` when there is
one, and a join guard ``CAMP#<campaign>`` / ``HOLDER#<customer>`` is put only if absent for join-once
publications: each is the replay or "one per customer" check itself, written with the change.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Any

from perkflow.adapters.customers import customer_from_item, customer_key
from perkflow.adapters.dynamo import GSI2, Item, Put, Table, Update
from perkflow.adapters.promotions.items import (
    AVAILABLE_SHARDS,
    dumps,
    extra_key,
    holder_key,
    publication_item,
    publication_key,
    publication_of,
    stored_voucher,
    voucher_item,
    voucher_key,
)
from perkflow.adapters.promotions.writes import Plan, customer_put, summary_updates, voucher_update, with_events
from perkflow.domain.customers import Customer, customer_id_for
from perkflow.domain.promotions.publications import Publication
from perkflow.domain.promotions.state import (
    AlreadyJoined,
    CodesTaken,
    CustomerChanged,
    PublicationCommit,
    Replayed,
    StoredVoucher,
)

MAX_MERGE_HOPS = 5


class PublicationStore:
    def __init__(self, table: Table, source: str) -> None:
        self.table = table
        self.source = source

    def publication(self, publication_id: str) -> Publication | None:
        item = self.table.get(publication_key(publication_id), consistent=True)
        return publication_of(item) if item else None

    def joined(self, campaign_id: str, customer_id: str) -> dict[str, Any] | None:
        item = self.table.get(holder_key(campaign_id, customer_id), consistent=True)
        return json.loads(item["answer"]) if item and item.get("answer") else None

    def customer(self, customer_id: str) -> Customer | None:
        item = self.table.get(customer_key(customer_id), consistent=True)
        customer = customer_from_item(item) if item else None
        for _ in range(MAX_MERGE_HOPS):
            if customer is None or not customer.merged_into:
                break
            item = self.table.get(customer_key(customer_id_for(customer.merged_into)), consistent=True)
            customer = customer_from_item(item) if item else None
        return customer

    def voucher(self, code: str) -> StoredVoucher | None:
        item = self.table.get(voucher_key(code), consistent=True)
        return stored_voucher(item) if item else None

    def vouchers(self, codes: Sequence[str]) -> dict[str, StoredVoucher]:
        items = self.table.batch_get([voucher_key(code) for code in codes], consistent=True)
        return {item["code"]: stored_voucher(item) for item in items}

    def available(self, campaign_id: str, count: int, exclude: set[str]) -> list[StoredVoucher]:
        """Up to ``count`` codes of the campaign free for publication, from random shards and offsets."""
        found: dict[str, StoredVoucher] = {}
        shards = list(range(AVAILABLE_SHARDS))
        secrets.SystemRandom().shuffle(shards)
        for shard in shards:
            start = secrets.token_hex(8)
            for condition in ("gsi2sk >= :start", "gsi2sk < :start"):
                page = self.table.query(
                    f"gsi2pk = :pk AND {condition}",
                    {":pk": f"AVAIL#{campaign_id}#{shard}", ":start": start},
                    index=GSI2,
                    limit=count + 2,
                )
                for item in page.items:
                    if item["code"] not in exclude and item["code"] not in found:
                        found[item["code"]] = stored_voucher(item)
                if len(found) >= count:
                    return list(found.values())[:count]
        return list(found.values())

    def commit(self, commit: PublicationCommit) -> None:
        publication = commit.publication
        plan = Plan()
        for change in commit.claimed:
            from_pool = change.before.voucher.holder_id is None and change.before.voucher.campaign_id is not None
            plan.add(
                voucher_update(
                    change, publication.created_at, publish=True, claim_from_pool=from_pool, guard_balance=False
                ),
                "voucher",
                change.before.code,
            )
        for voucher in commit.minted:
            plan.add(Put(item=voucher_item(voucher), condition="attribute_not_exists(pk)"), "minted", voucher.code)
        if commit.minted:
            lane = extra_key(str(commit.minted[0].campaign_id), commit.mint_lane)
            plan.add(Update(key=lane, expression="ADD n :n", values={":n": len(commit.minted)}), "lane")
        item = with_events(publication_item(publication), self.source, commit.events, commit.activity)
        item["answer"] = dumps(publication.answer)
        plan.add(Put(item=item, condition="attribute_not_exists(pk)"), "publication")
        if publication.campaign_id is not None:
            guard: Item = {
                **holder_key(publication.campaign_id, publication.customer_id),
                "publication_id": publication.id,
                "answer": dumps(publication.answer),
            }
            if commit.join_once:
                plan.add(Put(item=guard, condition="attribute_not_exists(pk)"), "joined")
            else:
                plan.add(
                    Update(
                        key=holder_key(publication.campaign_id, publication.customer_id),
                        expression="SET publication_id = if_not_exists(publication_id, :id), "
                        "answer = if_not_exists(answer, :answer)",
                        values={":id": publication.id, ":answer": guard["answer"]},
                    ),
                    "holder",
                )
        if commit.customer_write is not None:
            plan.add(customer_put(commit.customer_write, self.source, self.table), "customer")
        for update in summary_updates(commit.summary):
            plan.add(update, "summary")

        def refused(kind: str, detail: Any, found: Item | None) -> Exception | None:
            if kind == "publication" and found is not None:
                return Replayed(json.loads(found["answer"]))
            if kind == "joined" and found is not None:
                return AlreadyJoined(json.loads(found["answer"]))
            if kind in ("voucher", "minted"):
                return CodesTaken({str(detail)})
            if kind == "customer":
                return CustomerChanged()
            return None

        plan.run(self.table, refused)

    def of_customer(self, customer_id: str, limit: int) -> list[Publication]:
        page = self.table.query("gsi2pk = :pk", {":pk": f"PUBS#{customer_id}"}, index=GSI2, forward=False, limit=limit)
        return [publication_of(item) for item in page.items]
