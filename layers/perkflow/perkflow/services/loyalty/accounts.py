"""Applying changes to member accounts: read, decide (pure), write atomically, retry on a clash.

:meth:`Accounts.apply` is the one way an account changes. It reads the member (strongly consistent), lets the
caller's ``build`` decide the :class:`Change`, and stores it as one transaction: the account conditionally on
the version it read, every ledger entry and notice conditionally on its idempotency key. A clash (another
writer got there first) reads again and re-decides; a stored key means the trigger was handled before, so
nothing is written and the caller learns it was a replay. Several members (a referral) go in one transaction.

Rewards a change owes (a code bought with points, a birthday or referral code) are issued right after it is
stored (:meth:`Accounts.fulfil`): the code is published through the promotions machinery under a source id
derived from the fulfillment, so a retry answers the same code; a reward that cannot be issued gives the
points back. Anything left owed (a crash in between) is retried by the next daily pass.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from perkflow.domain.customers import Customer
from perkflow.domain.errors import PerkflowError
from perkflow.domain.events import CustomerRef
from perkflow.domain.loyalty import engine
from perkflow.domain.loyalty.engine import Change
from perkflow.domain.loyalty.errors import Contended
from perkflow.domain.loyalty.ledger import Account
from perkflow.domain.loyalty.program import LoyaltyProgram
from perkflow.domain.loyalty.storage import (
    AccountWrite,
    AlreadyReferred,
    CodeTaken,
    ReferralWrite,
    Replayed,
    StaleAccount,
    prepare,
)
from perkflow.services.loyalty.ports import CodeIssuer, Customers, IssuedReward, IssueFailed, LoyaltyStore

MAX_ATTEMPTS = 60
logger = logging.getLogger(__name__)
Build = Callable[[Account], Change]


@dataclass
class Target:
    """One member a transaction changes: who, how, and whether a non-member joins on the way."""

    customer: CustomerRef
    build: Build
    join: bool = True
    birthdate: str | None = None


@dataclass
class Fulfilled:
    issued: IssuedReward | None
    failure: IssueFailed | None = None
    pending: bool = False


@dataclass
class Applied:
    changes: list[Change]
    replayed: bool = False
    fulfilled: dict[str, Fulfilled] = field(default_factory=dict)

    @property
    def change(self) -> Change | None:
        return self.changes[0] if self.changes else None


def _merged(first: Change, second: Change) -> Change:
    return Change(
        before=first.before,
        account=second.account,
        entries=first.entries + second.entries,
        notices=first.notices + second.notices,
    )


class Accounts:
    def __init__(
        self, store: LoyaltyStore, customers: Customers, issuer: CodeIssuer, clock: Callable[[], datetime]
    ) -> None:
        self.store = store
        self.customers = customers
        self.issuer = issuer
        self.clock = clock

    # -- changing accounts -----------------------------------------------------------------------------------
    def apply(
        self,
        program: LoyaltyProgram,
        targets: list[Target],
        *,
        referral: Callable[[], ReferralWrite | None] | None = None,
    ) -> Applied:
        """Store what ``targets`` decide, as one transaction (targets whose member does not exist and may
        not join are left out). Raises Contended after too many clashes, AlreadyReferred from the referral."""
        for attempt in range(MAX_ATTEMPTS):
            now = self.clock()
            changes: list[Change] = []
            for target in targets:
                change = self._decide(program, target, now)
                if change is not None and not change.empty:
                    changes.append(change)
            referral_write = referral() if referral is not None else None
            if not changes and referral_write is None:
                return Applied(changes=[])
            today = program.today(now)
            writes: list[AccountWrite] = [prepare(program, change, today) for change in changes]
            try:
                self.store.commit(writes, referral_write)
            except Replayed:
                return Applied(changes=[], replayed=True)
            except (StaleAccount, CodeTaken):
                time.sleep(random.uniform(0, min(0.2, 0.005 * (attempt + 1))))
                continue
            fulfilled = {
                owed.id: self.fulfil(program, change.account.customer, owed.id)
                for change in changes
                for owed in change.fulfillments
            }
            return Applied(changes=changes, fulfilled=fulfilled)
        raise Contended("The loyalty member kept changing; try again", details=targets[0].customer.id)

    def _decide(self, program: LoyaltyProgram, target: Target, now: datetime) -> Change | None:
        stored = self.store.account(program.id, target.customer.id)
        if stored is None:
            if not target.join:
                return None
            joining = self._new_member(program, target, now)
            return _merged(joining, target.build(joining.account))
        account = engine.refreshed(stored, target.customer, target.birthdate)
        change = target.build(account)
        change.before = stored
        return change

    def _new_member(self, program: LoyaltyProgram, target: Target, now: datetime) -> Change:
        customer, birthdate = target.customer, target.birthdate
        profile: Customer | None = self.customers.get(customer.id)
        if profile is not None:
            customer = CustomerRef(
                id=customer.id,
                source_id=customer.source_id or profile.source_id,
                email=customer.email or profile.profile.email,
                name=customer.name or profile.profile.name,
            )
            birthdate = birthdate or profile.profile.birthdate
        account = engine.new_account(program, customer, now, birthdate=birthdate)
        return engine.joined(program, account, now)

    # -- rewards ---------------------------------------------------------------------------------------------
    def fulfil(self, program: LoyaltyProgram, customer: CustomerRef, fulfillment_id: str) -> Fulfilled:
        account = self.store.account(program.id, customer.id)
        owed = account.unfulfilled.get(fulfillment_id) if account is not None else None
        if account is None or owed is None:
            return Fulfilled(issued=None)  # issued (or given up) already
        assignment = program.find_reward(owed.reward_id)
        issued: IssuedReward | None = None
        failure: IssueFailed | None = None
        if assignment is None:
            failure = IssueFailed("not_found", f"reward {owed.reward_id} is no longer in the program", 404)
        elif assignment.campaign_id is not None:
            try:
                issued = self.issuer.issue(
                    assignment.campaign_id,
                    account.customer,
                    f"loyalty:{program.id}:{fulfillment_id}",
                    {"loyalty_program": program.id, "reason": owed.reason, "fulfillment_id": fulfillment_id},
                )
            except IssueFailed as exc:
                failure = exc
            except (PerkflowError, OSError, RuntimeError) as exc:
                logger.warning("reward not issued yet (the daily pass retries): %s", exc)
                return Fulfilled(issued=None, pending=True)
        else:
            issued = IssuedReward(code=None, voucher_id=None, expires_at=None)
        if failure is not None:
            spend = self.store.entry(program.id, customer.id, f"redeem:{fulfillment_id}")
            self.apply(
                program,
                [
                    Target(
                        customer=account.customer,
                        join=False,
                        build=lambda current: (
                            engine.unfulfillable(
                                current, fulfillment_id, spend, now=self.clock(), why=failure.message if failure else ""
                            )
                            if fulfillment_id in current.unfulfilled
                            else Change(before=current, account=current)
                        ),
                    )
                ],
            )
            return Fulfilled(issued=None, failure=failure)
        assert issued is not None
        assert assignment is not None
        reward = assignment
        done = issued
        self.apply(
            program,
            [
                Target(
                    customer=account.customer,
                    join=False,
                    build=lambda current: (
                        engine.fulfilled(
                            program,
                            current,
                            fulfillment_id,
                            reward,
                            code=done.code,
                            expires_at=done.expires_at,
                            voucher_id=done.voucher_id,
                            now=self.clock(),
                        )
                        if fulfillment_id in current.unfulfilled
                        else Change(before=current, account=current)
                    ),
                )
            ],
        )
        return Fulfilled(issued=issued)


__all__ = ["Accounts", "AlreadyReferred", "Applied", "Fulfilled", "Target"]
