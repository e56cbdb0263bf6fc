"""What the loyalty services need from the outside world (the adapters and wiring satisfy these)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from perkflow.domain.customers import Customer
from perkflow.domain.events import CustomerRef
from perkflow.domain.loyalty.engine import Notice
from perkflow.domain.loyalty.ledger import Account, LedgerEntry
from perkflow.domain.loyalty.program import LoyaltyProgram
from perkflow.domain.loyalty.referrals import Referral
from perkflow.domain.loyalty.storage import AccountWrite, ReferralWrite


class LoyaltyStore(Protocol):
    def program(self, id_or_name: str, *, consistent: bool = False) -> LoyaltyProgram | None: ...

    def programs(self) -> list[LoyaltyProgram]: ...

    def save_program(self, program: LoyaltyProgram, before: LoyaltyProgram | None) -> None: ...

    def delete_program(self, program: LoyaltyProgram) -> None: ...

    def swept_on(self, program_id: str) -> str | None: ...

    def mark_swept(self, program_id: str, day: date) -> bool: ...

    def account(self, program_id: str, customer_id: str, *, consistent: bool = True) -> Account | None: ...

    def accounts_of_customer(self, customer_id: str) -> list[Account]: ...

    def owner_of_card(self, code: str) -> tuple[str, str] | None: ...

    def owner_of_member_id(self, member_id: str) -> tuple[str, str] | None: ...

    def owner_of_referral_code(self, code: str) -> tuple[str, str] | None: ...

    def members(self, program_id: str, *, limit: int, skip: int) -> tuple[list[Account], bool]: ...

    def due_page(
        self, program_id: str, shard_index: int, today: date, limit: int, start: dict[str, str] | None
    ) -> tuple[list[Account], dict[str, str] | None]: ...

    def entry(self, program_id: str, customer_id: str, key: str) -> LedgerEntry | None: ...

    def entries(
        self, program_id: str, customer_id: str, *, limit: int, after_id: str | None = None
    ) -> tuple[list[LedgerEntry], bool]: ...

    def notice(self, program_id: str, customer_id: str, key: str) -> Notice | None: ...

    def referral(self, program_id: str, friend_id: str) -> Referral | None: ...

    def commit(self, writes: Sequence[AccountWrite], referral: ReferralWrite | None = None) -> None: ...


@dataclass(frozen=True)
class IssuedReward:
    """A code given to a member through the promotions machinery."""

    code: str | None
    voucher_id: str | None
    expires_at: datetime | None
    voucher: dict[str, Any] = field(default_factory=dict)


class IssueFailed(Exception):
    """The reward cannot be issued (campaign gone or disabled, no codes left): the points are given back."""

    def __init__(self, key: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.key = key
        self.message = message
        self.status = status


class CodeIssuer(Protocol):
    def issue(self, campaign_id: str, customer: CustomerRef, source_id: str, metadata: dict[str, Any]) -> IssuedReward:
        """Publish one code of ``campaign_id`` to the customer, once per ``source_id`` (a repeat answers the
        same code). Raises IssueFailed when it cannot."""
        ...


class Customers(Protocol):
    def get(self, customer_id: str) -> Customer | None: ...

    def upsert(self, body: dict[str, Any]) -> Customer:
        """The customer a request names (``id`` or ``source_id``), created or updated as Voucherify does."""
        ...


class Continuations(Protocol):
    def continue_sweep(self, program_id: str) -> None:
        """Ask for another pass of the program's daily work soon (it ran out of time)."""
        ...
