"""What storage hands the promotion services and what it answers when a conditional write is refused.

These are plain values shared by services (which decide) and adapters (which read and write): a voucher
with what storage guards it by, the state a checkout reads in one round trip, and the exceptions a refused
condition turns into, each carrying the stored state the refusal returned, so that the caller can decide
again without reading a second time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from perkflow.domain.activities import Activity
from perkflow.domain.customers import Customer
from perkflow.domain.events import PublicationSucceeded, RedemptionRollbackSucceeded
from perkflow.domain.promotions.announcements import Announced
from perkflow.domain.promotions.common import Instant
from perkflow.domain.promotions.publications import Publication
from perkflow.domain.promotions.redemptions import Redemption, RedemptionPlan
from perkflow.domain.promotions.rollbacks import RedemptionRollback
from perkflow.domain.promotions.sessions import Reservation
from perkflow.domain.promotions.summary import Changes
from perkflow.domain.promotions.vouchers import Voucher
from perkflow.domain.recording import CustomerWrite
from perkflow.domain.timeutil import iso


@dataclass(frozen=True)
class StoredVoucher:
    """A voucher as stored: the voucher, its session reservations and the version that guards them."""

    voucher: Voucher
    reservations: tuple[Reservation, ...] = ()
    lock_version: int = 0
    rule_ids: frozenset[str] = frozenset()

    @property
    def code(self) -> str:
        return self.voucher.code


@dataclass(frozen=True)
class CampaignSwitches:
    """What validation and redemption need of a campaign, kept where one read finds every campaign's."""

    active: bool = True
    rule_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CheckoutState:
    """Everything a validation or redemption reads, in one round trip."""

    vouchers: Mapping[str, StoredVoucher]  # by requested id
    campaigns: Mapping[str, CampaignSwitches]
    customer: Customer | None = None
    segment_ids: frozenset[str] = frozenset()
    uses: Mapping[str, int] = field(default_factory=dict)  # the customer's redemptions of each code
    replay: dict[str, Any] | None = None  # the stored answer of an earlier request with the same key


class Assignment(BaseModel):
    """A validation rule assigned to a campaign or a voucher (``asgm_``)."""

    model_config = ConfigDict(frozen=True)

    id: str
    rule_id: str
    related_object_id: str
    related_object_type: str
    created_at: Instant

    def as_voucherify(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule_id": self.rule_id,
            "related_object_id": self.related_object_id,
            "related_object_type": self.related_object_type,
            "created_at": iso(self.created_at),
            "object": "validation_rules_assignment",
        }


class GenerationJob(BaseModel):
    """A campaign's code generation: how many codes it should have, and which chunk runs next."""

    model_config = ConfigDict(frozen=True)

    campaign_id: str
    target: int = Field(ge=0)
    next_chunk: int = 0
    done: bool = False


@dataclass(frozen=True)
class BalanceTransaction:
    """One entry of a gift card's ledger (``vtx_``)."""

    id: str
    voucher_id: str
    campaign_id: str | None
    source_id: str | None
    reason: str | None
    amount: int
    total: int
    balance: int
    created_at: datetime
    type: str = "CREDITS_ADDITION"
    related_redemption_id: str | None = None

    def as_voucherify(self) -> dict[str, Any]:
        details: dict[str, Any] = {
            "balance": {
                "type": "gift_voucher",
                "total": self.total,
                "amount": self.amount,
                "object": "balance",
                "balance": self.balance,
                "related_object": {"id": self.voucher_id, "type": "voucher"},
            }
        }
        if self.related_redemption_id:
            details["redemption"] = {"id": self.related_redemption_id}
        return {
            "id": self.id,
            "source_id": self.source_id,
            "voucher_id": self.voucher_id,
            "campaign_id": self.campaign_id,
            "source": "API",
            "reason": self.reason,
            "type": self.type,
            "details": details,
            "related_transaction_id": None,
            "created_at": iso(self.created_at),
        }


# -- refused conditions -------------------------------------------------------------------------------------


class VoucherChanged(Exception):
    """A voucher changed between the read and the write; ``current`` is its state now (None: gone)."""

    def __init__(self, code: str, current: StoredVoucher | None) -> None:
        super().__init__(code)
        self.code = code
        self.current = current


class UsesChanged(Exception):
    """The customer redeemed the code concurrently (per-customer limits): read again and decide again."""


class CustomerChanged(Exception):
    """The customer changed concurrently (optimistic version): read again and decide again."""


class Contention(Exception):
    """Another transaction held an item this write needed (DynamoDB TransactionConflict): try again."""


class AlreadyRolledBack(Exception):
    """A redemption to roll back is no longer SUCCEEDED."""

    def __init__(self, redemption_id: str) -> None:
        super().__init__(redemption_id)
        self.redemption_id = redemption_id


class Replayed(Exception):
    """The request's idempotency key was used before; ``answer`` is what the first request answered."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__("replayed")
        self.answer = answer


class CodesTaken(Exception):
    """Codes a write meant to claim or create were taken by another writer."""

    def __init__(self, codes: set[str]) -> None:
        super().__init__(", ".join(sorted(codes)))
        self.codes = codes


class AlreadyJoined(Exception):
    """The customer already holds a code of this join-once campaign; ``answer`` is that publication."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__("already joined")
        self.answer = answer


# -- what a service asks storage to write, as one transaction ----------------------------------------------


@dataclass(frozen=True)
class VoucherChange:
    """One voucher's change, guarded by the state it was decided on (``before``)."""

    before: StoredVoucher
    after: Voucher
    consume_session: str | None = None  # a session reservation this change uses up
    add_reservation: Reservation | None = None  # a session reservation this change makes


@dataclass(frozen=True)
class RedemptionCommit:
    plan: RedemptionPlan
    answer: dict[str, Any]  # stored with the answering record, so a replay answers the same
    changes: tuple[VoucherChange, ...]
    announced: tuple[Announced, ...]
    summary: Changes
    uses: Mapping[str, int]  # code -> the customer's redemptions of it as read (empty: no customer)
    customer_write: CustomerWrite | None
    now: datetime


@dataclass(frozen=True)
class RefusalCommit:
    announced: Announced
    summary: Changes
    voucher_code: str | None
    now: datetime


@dataclass(frozen=True)
class RollbackCommit:
    """Rollbacks of one or more redemptions (a stacked parent's children), with the parent's own record."""

    redemptions: tuple[Redemption, ...]  # the records rolled back (must still be SUCCEEDED)
    records: tuple[RedemptionRollback, ...]
    changes: tuple[VoucherChange, ...]
    events: tuple[RedemptionRollbackSucceeded, ...]
    activities: tuple[Activity | None, ...]
    summary: Changes
    customer_id: str | None
    parent: Redemption | None = None
    parent_record: RedemptionRollback | None = None
    answer: dict[str, Any] = field(default_factory=dict)
    now: datetime | None = None


@dataclass(frozen=True)
class PublicationCommit:
    publication: Publication
    claimed: tuple[VoucherChange, ...]  # existing codes this publication takes (must still be free)
    minted: tuple[Voucher, ...]  # new codes of an AUTO_UPDATE campaign, published as they are created
    events: tuple[PublicationSucceeded, ...]
    activity: Activity
    summary: Changes
    customer_write: CustomerWrite | None
    join_once: bool  # guard "one code per customer in this campaign"
    mint_lane: int = 0
