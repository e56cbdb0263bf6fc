"""Keys and item shapes of the promotion entities in the single table (docs/promotions.md has the layout).

Immutable parts of an entity ride as one JSON string (``data``); what conditional writes read or change
(balances, counters, status, holder, index keys) are top-level attributes, so that an UpdateItem can change
them in place and a ConditionExpression can guard them.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from perkflow.adapters.dynamo import Item, codec
from perkflow.domain.promotions.campaigns import Campaign
from perkflow.domain.promotions.distributions import Distribution
from perkflow.domain.promotions.publications import Publication
from perkflow.domain.promotions.redemptions import Redemption
from perkflow.domain.promotions.rollbacks import RedemptionRollback
from perkflow.domain.promotions.rules import ValidationRule
from perkflow.domain.promotions.sessions import Reservation
from perkflow.domain.promotions.state import Assignment, BalanceTransaction, StoredVoucher
from perkflow.domain.promotions.vouchers import Gift, Voucher
from perkflow.domain.timeutil import iso, parse_iso

AVAILABLE_SHARDS = 16  # codes free for publication are spread over this many index partitions
GENERATION_LANES = 4  # parallel writers (and counter items) of a code generation


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# -- keys ---------------------------------------------------------------------------------------------------


def voucher_key(code: str) -> dict[str, str]:
    return {"pk": f"CODE#{code}", "sk": "VOUCHER"}


def uses_key(code: str, customer_id: str) -> dict[str, str]:
    return {"pk": f"CODE#{code}", "sk": f"USES#{customer_id}"}


def transaction_key(code: str, transaction_id: str) -> dict[str, str]:
    return {"pk": f"CODE#{code}", "sk": f"TXN#{transaction_id}"}


def campaign_key(campaign_id: str) -> dict[str, str]:
    return {"pk": f"CAMP#{campaign_id}", "sk": "CAMP"}


def campaign_name_key(name: str) -> dict[str, str]:
    return {"pk": f"CAMPNAME#{name}", "sk": "NAME"}


def job_key(campaign_id: str) -> dict[str, str]:
    return {"pk": f"CAMP#{campaign_id}", "sk": "GENJOB"}


def lane_key(campaign_id: str, lane: int) -> dict[str, str]:
    return {"pk": f"CAMP#{campaign_id}", "sk": f"GEN#{lane}"}


def extra_key(campaign_id: str, shard: int) -> dict[str, str]:
    """Counters of codes added outside generation jobs (one by one, or minted by AUTO_UPDATE publications)."""
    return {"pk": f"CAMP#{campaign_id}", "sk": f"GEN#x{shard % GENERATION_LANES}"}


def holder_key(campaign_id: str, customer_id: str) -> dict[str, str]:
    return {"pk": f"CAMP#{campaign_id}", "sk": f"HOLDER#{customer_id}"}


def shape_key(shape: str) -> dict[str, str]:
    return {"pk": f"SHAPE#{hashlib.sha256(shape.encode()).hexdigest()[:32]}", "sk": "COUNT"}


DIRECTORY_KEY = {"pk": "PROMO", "sk": "DIRECTORY"}


def active_attribute(campaign_id: str) -> str:
    return f"a#{campaign_id}"


def rules_attribute(campaign_id: str) -> str:
    return f"r#{campaign_id}"


def rule_key(rule_id: str) -> dict[str, str]:
    return {"pk": f"VAL#{rule_id}", "sk": "VAL"}


def assignment_key(rule_id: str, object_type: str, object_id: str) -> dict[str, str]:
    return {"pk": f"VAL#{rule_id}", "sk": f"ASGM#{object_type}#{object_id}"}


def publication_key(publication_id: str) -> dict[str, str]:
    return {"pk": f"PUB#{publication_id}", "sk": "PUB"}


def redemption_key(redemption_id: str) -> dict[str, str]:
    return {"pk": f"RED#{redemption_id}", "sk": "RED"}


def summary_key(customer_id: str) -> dict[str, str]:
    return {"pk": f"CUST#{customer_id}", "sk": "SUMMARY"}


def distribution_key(distribution_id: str) -> dict[str, str]:
    return {"pk": f"DIST#{distribution_id}", "sk": "DIST"}


# -- vouchers -----------------------------------------------------------------------------------------------

_STATIC_VOUCHER_FIELDS = {
    "campaign",
    "category",
    "type",
    "discount",
    "start_date",
    "redemption_quantity",
    "metadata",
    "additional_info",
    "created_at",
}


def voucher_item(voucher: Voucher, *, available: bool = False, rule_ids: frozenset[str] = frozenset()) -> Item:
    """A new voucher; ``available``: listed among its campaign's codes free for publication."""
    item: Item = {
        **voucher_key(voucher.code),
        "id": voucher.id,
        "code": voucher.code,
        "campaign_id": voucher.campaign_id,
        "data": dumps(voucher.model_dump(mode="json", include=_STATIC_VOUCHER_FIELDS)),
        "active": voucher.active,
        "redeemed_quantity": voucher.redeemed_quantity,
        "redeemed_amount": voucher.redeemed_amount,
        "publish_count": voucher.publish_count,
        "holder_id": voucher.holder_id,
        "expiration_date": iso(voucher.expiration_date) if voucher.expiration_date else None,
        "updated_at": iso(voucher.updated_at) if voucher.updated_at else None,
        "lock_version": 0,
        "sessions": {},
        "gsi1pk": f"VID#{voucher.id}",
        "gsi1sk": "VOUCHER",
    }
    if voucher.gift is not None:
        item.update(
            gift_amount=voucher.gift.amount, subtracted=voucher.gift.subtracted_amount, balance=voucher.gift.balance
        )
    if rule_ids:
        item["rule_ids"] = set(rule_ids)
    if available and voucher.campaign_id and voucher.holder_id is None:
        item["gsi2pk"] = f"AVAIL#{voucher.campaign_id}#{secrets.randbelow(AVAILABLE_SHARDS)}"
        item["gsi2sk"] = secrets.token_hex(8)
    return item


def stored_voucher(item: Mapping[str, Any]) -> StoredVoucher:
    data: dict[str, Any] = json.loads(item["data"])
    gift = None
    if "balance" in item:
        effect = "APPLY_TO_ORDER"
        gift = Gift(
            amount=int(item["gift_amount"]),
            subtracted_amount=int(item.get("subtracted", 0)),
            balance=int(item["balance"]),
            effect=effect,
        )
    rule_ids = frozenset(item.get("rule_ids") or ())
    voucher = Voucher.model_validate(
        {
            **data,
            "id": item["id"],
            "code": item["code"],
            "campaign_id": item.get("campaign_id"),
            "gift": gift,
            "active": bool(item.get("active", True)),
            "redeemed_quantity": int(item.get("redeemed_quantity", 0)),
            "redeemed_amount": int(item.get("redeemed_amount", 0)),
            "publish_count": int(item.get("publish_count", 0)),
            "holder_id": item.get("holder_id"),
            "expiration_date": item.get("expiration_date"),
            "updated_at": item.get("updated_at"),
            "validation_rules": tuple(sorted(rule_ids)),
        }
    )
    raw_sessions: Mapping[str, Mapping[str, Any]] = item.get("sessions") or {}
    reservations = tuple(
        Reservation(
            key=key,
            credits=int(value.get("c", 0)),
            expires_at=datetime.fromtimestamp(float(value["x"]), tz=UTC),
            customer_id=value.get("u"),
        )
        for key, value in sorted(raw_sessions.items())
    )
    return StoredVoucher(
        voucher=voucher, reservations=reservations, lock_version=int(item.get("lock_version", 0)), rule_ids=rule_ids
    )


_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE62_TABLE = bytes(ord(_BASE62[byte % 62]) for byte in range(248)) + bytes(8)
_BASE62_REJECT = bytes(range(248, 256))


def bulk_ids(prefix: str, count: int, length: int = 24) -> list[str]:
    """``count`` random ids like :func:`perkflow.domain.ids.new_id` (24 base-62 CSPRNG characters), drawn in
    one pass for bulk generation (rejection sampling keeps the characters uniform)."""
    chars = bytearray()
    while len(chars) < count * length:
        chars += os.urandom((count * length - len(chars)) * 256 // 248 + 16).translate(_BASE62_TABLE, _BASE62_REJECT)
    text = chars[: count * length].decode()
    return [prefix + text[index : index + length] for index in range(0, count * length, length)]


def bulk_voucher_items(prototype: Voucher, codes: Sequence[str]) -> list[dict[str, Any]]:
    """Items of new, unpublished codes of one campaign in DynamoDB's wire format: ``prototype``'s item, once
    serialized, with each code, a fresh id and a random free-code shard (bulk generation's hot loop)."""
    template = codec().dump(voucher_item(prototype, available=True))
    ids = bulk_ids("v_", len(codes))
    noise = os.urandom(len(codes) * 9)
    items = []
    for index, (code, voucher_id) in enumerate(zip(codes, ids, strict=True)):
        item = dict(template)
        item["pk"] = {"S": f"CODE#{code}"}
        item["code"] = {"S": code}
        item["id"] = {"S": voucher_id}
        item["gsi1pk"] = {"S": f"VID#{voucher_id}"}
        item["gsi2pk"] = {"S": f"AVAIL#{prototype.campaign_id}#{noise[index * 9] % AVAILABLE_SHARDS}"}
        item["gsi2sk"] = {"S": noise[index * 9 + 1 : index * 9 + 9].hex()}
        items.append(item)
    return items


def reservation_value(reservation: Reservation) -> dict[str, Any]:
    value: dict[str, Any] = {"c": reservation.credits, "x": int(reservation.expires_at.timestamp())}
    if reservation.customer_id:
        value["u"] = reservation.customer_id
    return value


# -- campaigns, rules, assignments --------------------------------------------------------------------------


def campaign_item(campaign: Campaign) -> Item:
    return {
        **campaign_key(campaign.id),
        "id": campaign.id,
        "name": campaign.name,
        "data": dumps(campaign.model_dump(mode="json", exclude={"active", "generation_status"})),
        "active": campaign.active,
        "generation_status": campaign.generation_status,
        "gsi2pk": "CAMPAIGNS",
        "gsi2sk": f"{iso(campaign.created_at)}#{campaign.id}",
    }


def campaign_of(item: Mapping[str, Any]) -> Campaign:
    data: dict[str, Any] = json.loads(item["data"])
    data.update(active=bool(item.get("active", True)), generation_status=item.get("generation_status", "DONE"))
    if item.get("updated_at"):
        data["updated_at"] = item["updated_at"]
    return Campaign.model_validate(data)


def rule_item(rule: ValidationRule) -> Item:
    return {
        **rule_key(rule.id),
        "id": rule.id,
        "data": dumps(rule.model_dump(mode="json")),
        "gsi2pk": "RULES",
        "gsi2sk": f"{iso(rule.created_at)}#{rule.id}",
    }


def rule_of(item: Mapping[str, Any]) -> ValidationRule:
    return ValidationRule.model_validate(json.loads(item["data"]))


def assignment_item(assignment: Assignment) -> Item:
    return {
        **assignment_key(assignment.rule_id, assignment.related_object_type, assignment.related_object_id),
        "id": assignment.id,
        "data": dumps(assignment.model_dump(mode="json")),
        "gsi1pk": f"ASGMOBJ#{assignment.related_object_id}",
        "gsi1sk": assignment.id,
    }


def assignment_of(item: Mapping[str, Any]) -> Assignment:
    return Assignment.model_validate(json.loads(item["data"]))


# -- publications, redemptions, rollbacks, ledger, distributions ---------------------------------------------


def publication_item(publication: Publication) -> Item:
    return {
        **publication_key(publication.id),
        "id": publication.id,
        "data": dumps(publication.model_dump(mode="json")),
        "gsi2pk": f"PUBS#{publication.customer_id}",
        "gsi2sk": f"{iso(publication.created_at)}#{publication.id}",
    }


def publication_of(item: Mapping[str, Any]) -> Publication:
    return Publication.model_validate(json.loads(item["data"]))


def redemption_item(record: Redemption, code: str | None, *, answer: dict[str, Any] | None = None) -> Item:
    item: Item = {
        **redemption_key(record.id),
        "id": record.id,
        "kind": "redemption",
        "status": record.status,
        "data": dumps(record.model_dump(mode="json", exclude={"status"})),
    }
    if code is not None:
        item["code"] = code
        item["gsi2pk"] = f"VRED#{code}"
        item["gsi2sk"] = f"{iso(record.date)}#{record.id}"
    if answer is not None:
        item["answer"] = dumps(answer)
    return item


def redemption_of(item: Mapping[str, Any]) -> Redemption:
    data: dict[str, Any] = json.loads(item["data"])
    data["status"] = item.get("status", data.get("status"))
    return Redemption.model_validate(data)


def rollback_item(record: RedemptionRollback, code: str | None) -> Item:
    item: Item = {
        **redemption_key(record.id),
        "id": record.id,
        "kind": "rollback",
        "data": dumps(record.model_dump(mode="json")),
    }
    if code is not None:
        item["code"] = code
        item["gsi2pk"] = f"VRED#{code}"
        item["gsi2sk"] = f"{iso(record.date)}#{record.id}"
    return item


def rollback_of(item: Mapping[str, Any]) -> RedemptionRollback:
    return RedemptionRollback.model_validate(json.loads(item["data"]))


def transaction_item(code: str, transaction: BalanceTransaction, answer: dict[str, Any]) -> Item:
    return {
        **transaction_key(code, transaction.id),
        "id": transaction.id,
        "created_at": iso(transaction.created_at),
        "data": dumps(
            {
                "voucher_id": transaction.voucher_id,
                "campaign_id": transaction.campaign_id,
                "source_id": transaction.source_id,
                "reason": transaction.reason,
                "amount": transaction.amount,
                "total": transaction.total,
                "balance": transaction.balance,
                "type": transaction.type,
            }
        ),
        "answer": dumps(answer),
    }


def transaction_of(item: Mapping[str, Any]) -> BalanceTransaction:
    data = json.loads(item["data"])
    return BalanceTransaction(id=item["id"], created_at=parse_iso(item["created_at"]), **data)


def distribution_item(distribution: Distribution) -> Item:
    return {
        **distribution_key(distribution.id),
        "id": distribution.id,
        "data": dumps(distribution.model_dump(mode="json")),
        "gsi1pk": "DISTRIBUTIONS",
        "gsi1sk": f"{iso(distribution.created_at)}#{distribution.id}",
        "gsi2pk": f"DISTSEG#{distribution.segment_id}",
        "gsi2sk": distribution.id,
    }


def distribution_of(item: Mapping[str, Any]) -> Distribution:
    return Distribution.model_validate(json.loads(item["data"]))
