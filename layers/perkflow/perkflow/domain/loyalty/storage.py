"""What storing a change means, independent of the store: the write descriptors and the refusals.

:func:`prepare` turns a :class:`~perkflow.domain.loyalty.engine.Change` into an :class:`AccountWrite`: the
account, each appended entry and notice with the events it announces and the activity it lists as, the day
the member is next due for the daily work, and the attributes the customer shows (points, tier, referral
URL). The store writes a list of them (and any referral record) as one transaction and answers with one of
the exceptions below when it refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from perkflow.domain.activities import Activity
from perkflow.domain.events import DomainEvent
from perkflow.domain.loyalty import announce, engine, schedule
from perkflow.domain.loyalty.engine import Change, Notice
from perkflow.domain.loyalty.ledger import LedgerEntry
from perkflow.domain.loyalty.program import LoyaltyProgram
from perkflow.domain.loyalty.referrals import Referral
from perkflow.domain.loyalty.tiers import ordered, rank_of


@dataclass(frozen=True)
class Announced:
    events: list[DomainEvent]
    activity: Activity


@dataclass
class AccountWrite:
    program: LoyaltyProgram
    change: Change
    entries: list[tuple[LedgerEntry, Announced]]
    notices: list[tuple[Notice, Announced]]
    due: date | None
    profile: dict[str, Any]


@dataclass
class ReferralWrite:
    referral: Referral
    create: bool = True  # True: the friend must not have a referral yet; False: mark it completed


class StaleAccount(Exception):
    """The account changed since it was read (or was created meanwhile): read it again and re-apply."""


class Replayed(Exception):
    """An entry or notice with this idempotency key is stored already: the trigger was handled before."""


class AlreadyReferred(Exception):
    """The friend has a referral (or it was completed) already."""


class ProgramConflict(Exception):
    """The program changed since it was read (``name_taken`` False) or its new name belongs to another."""

    def __init__(self, *, name_taken: bool) -> None:
        super().__init__("name taken" if name_taken else "program changed")
        self.name_taken = name_taken


class CodeTaken(Exception):
    """A generated member or referral code is taken: draw another."""


def profile(program: LoyaltyProgram, change: Change) -> dict[str, Any]:
    """The member's customer-visible attributes, stored on its item (the customer's partition)."""
    account = change.account
    tiers = ordered(list(program.tiers))
    rank = rank_of(tiers, account.tier_id)
    tier = tiers[rank] if rank >= 0 else None
    expiry = account.next_expiry()
    return {
        "program_name": program.name,
        "points": account.balance,
        "pending_points": account.pending_points,
        "tier_id": tier.id if tier else None,
        "tier_name": tier.name if tier else None,
        "tier_rank": rank if tier else None,
        "referral_code": account.referral_code,
        "referral_url": engine.referral_url(program, account),
        "referred_customers": account.referrals_completed,
        "next_expiration_date": expiry[0] if expiry else None,
        "next_expiration_points": expiry[1] if expiry else None,
    }


def prepare(program: LoyaltyProgram, change: Change, today: date) -> AccountWrite:
    account = change.account
    entries = [
        (
            entry,
            Announced(announce.entry_events(program, account, entry), announce.entry_activity(program, account, entry)),
        )
        for entry in change.entries
    ]
    notices = [
        (
            notice,
            Announced(
                announce.notice_events(program, account, notice), announce.notice_activity(program, account, notice)
            ),
        )
        for notice in change.notices
    ]
    return AccountWrite(
        program=program,
        change=change,
        entries=entries,
        notices=notices,
        due=schedule.next_due(program, account, today),
        profile=profile(program, change),
    )
