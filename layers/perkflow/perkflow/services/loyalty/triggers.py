"""Bus events -> points: what the ``loyalty`` function does with each event it consumes.

- ``customer.event.recorded``: ``Order Completed`` earns by the order rules (and counts toward spend tiers and
  referrals); ``Order Refunded`` / ``Order Cancelled`` reverse the order; any other event earns by the custom
  event rules of its name. An event carrying a referral code (``referral.code`` or ``referral_code``) is
  attributed to that referral first.
- ``customer.segment.entered``: the segment rules.
- ``customer.created``: the customer joins every live program with ``auto_join`` (sign-up rules, base tier,
  referral code from ``metadata.referral_code``).
- ``customer.updated``: members' name, e-mail and birthdate follow the profile; a new
  ``metadata.referral_code`` is attributed.

Each is idempotent: the ledger key comes from the source (order id, message id, the segment event's id), so a
redelivered event changes nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from perkflow.domain.customers import ANONYMOUS_PREFIX
from perkflow.domain.events import (
    CATALOGUE,
    CustomerCreated,
    CustomerEventRecorded,
    CustomerRef,
    CustomerSegmentEntered,
    CustomerUpdated,
    parse_detail,
)
from perkflow.domain.loyalty import engine, orders, referrals
from perkflow.domain.loyalty.engine import Change
from perkflow.domain.loyalty.ledger import Account
from perkflow.domain.loyalty.program import LoyaltyProgram
from perkflow.domain.loyalty.rules import SEGMENT_ENTERED, EarningRule
from perkflow.domain.loyalty.storage import AlreadyReferred, ReferralWrite
from perkflow.services.loyalty.accounts import Accounts, Build, Target
from perkflow.services.loyalty.ports import LoyaltyStore

logger = logging.getLogger(__name__)
Outcome = dict[str, Any]


def _referral_code_of(profile: dict[str, Any]) -> str | None:
    metadata = profile.get("metadata")
    return orders.referral_code(metadata) if isinstance(metadata, dict) else None


class Triggers:
    def __init__(self, store: LoyaltyStore, accounts: Accounts, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.accounts = accounts
        self.clock = clock

    def handle(self, detail_type: str, detail: dict[str, Any]) -> list[Outcome]:
        """One bus event (its detail-type and detail); ValueError for one this service does not consume."""
        event = parse_detail(detail_type, detail) if detail_type in CATALOGUE else None
        if isinstance(event, CustomerEventRecorded):
            return self.on_event_recorded(event)
        if isinstance(event, CustomerSegmentEntered):
            return self.on_segment_entered(event)
        if isinstance(event, CustomerCreated):
            return self.on_customer_created(event)
        if isinstance(event, CustomerUpdated):
            return self.on_customer_updated(event)
        raise ValueError(f"the loyalty function does not consume {detail_type!r}")

    def _programs(self) -> list[LoyaltyProgram]:
        now = self.clock()
        return [program for program in self.store.programs() if program.live(now)]

    # -- customer.event.recorded ------------------------------------------------------------------------------
    def on_event_recorded(self, event: CustomerEventRecorded) -> list[Outcome]:
        if (event.customer.source_id or "").startswith(ANONYMOUS_PREFIX):
            return []
        name, properties = event.event.name, event.event.properties
        outcomes: list[Outcome] = []
        for program in self._programs():
            code = orders.referral_code(properties)
            if code:
                trigger: Literal["signup", "order"] = "order" if name == orders.COMPLETED else "signup"
                outcomes.append(self.attribute(program, event.customer, code, trigger))
            if name == orders.COMPLETED:
                outcomes.append(self._order(program, event))
                outcomes.append(self.complete_referral(program, event.customer))
            elif name in orders.REVERSING:
                outcomes.append(self._reversal(program, event))
            else:
                outcomes.append(self._custom(program, event))
        return outcomes

    def _order(self, program: LoyaltyProgram, event: CustomerEventRecorded) -> Outcome:
        order = orders.completed_order(event.event.properties)
        key = f"order:{order.order_id or event.event.message_id or event.activity_id}"
        details = {"event": {"id": event.event.message_id or event.activity_id, "type": event.event.name}}

        def build(account: Account) -> Change:
            reversed_already = (
                order.order_id is not None
                and self.store.entry(program.id, account.customer_id, f"reverse:{order.order_id}") is not None
            )
            return engine.earn_order(
                program, account, order, key=key, now=self.clock(), details=details, reversed_already=reversed_already
            )

        applied = self.accounts.apply(program, [Target(event.customer, build, join=program.auto_join)])
        return self._outcome(program, "order", key, applied.replayed, applied.change)

    def _reversal(self, program: LoyaltyProgram, event: CustomerEventRecorded) -> Outcome:
        order_id = orders.order_id(event.event.properties)
        if order_id is None:
            return {"program_id": program.id, "trigger": "reversal", "skipped": "no order_id"}

        def build(account: Account) -> Change:
            earned = self.store.entry(program.id, account.customer_id, f"order:{order_id}")
            return engine.reverse_order(program, account, earned, order_id, now=self.clock(), why=event.event.name)

        applied = self.accounts.apply(program, [Target(event.customer, build, join=program.auto_join)])
        return self._outcome(program, "reversal", f"reverse:{order_id}", applied.replayed, applied.change)

    def _custom(self, program: LoyaltyProgram, event: CustomerEventRecorded) -> Outcome:
        now = self.clock()
        rules = [rule for rule in program.earning_rules if rule.kind == "event" and rule.event == event.event.name]
        rules = [rule for rule in rules if rule.live(now)]
        key = f"event:{event.event.message_id or event.activity_id}"
        if not rules:
            return {"program_id": program.id, "trigger": "event", "skipped": "no earning rule"}
        details = {"event": {"id": event.event.message_id or event.activity_id, "type": event.event.name}}
        build = self._fixed(program, rules, key, "event", details)
        applied = self.accounts.apply(program, [Target(event.customer, build, join=program.auto_join)])
        return self._outcome(program, "event", key, applied.replayed, applied.change)

    # -- customer.segment.entered -----------------------------------------------------------------------------
    def on_segment_entered(self, event: CustomerSegmentEntered) -> list[Outcome]:
        outcomes: list[Outcome] = []
        now = self.clock()
        for program in self._programs():
            rules = [
                rule
                for rule in program.earning_rules
                if rule.event == SEGMENT_ENTERED and rule.segment_id == event.segment.id and rule.live(now)
            ]
            if not rules:
                continue
            key = f"segment:{event.event_id}"
            details = {"segment": {"id": event.segment.id, "name": event.segment.name}}
            build = self._fixed(program, rules, key, "segment", details)
            applied = self.accounts.apply(program, [Target(event.customer, build, join=program.auto_join)])
            outcomes.append(self._outcome(program, "segment", key, applied.replayed, applied.change))
        return outcomes

    # -- customer.created / customer.updated ------------------------------------------------------------------
    def on_customer_created(self, event: CustomerCreated) -> list[Outcome]:
        if (event.customer.source_id or "").startswith(ANONYMOUS_PREFIX):
            return []
        outcomes: list[Outcome] = []
        birthdate = event.profile.get("birthdate")
        code = _referral_code_of(event.profile)
        for program in self._programs():
            if not program.auto_join:
                continue
            rules = engine.signup_rules(program, self.clock())
            build = self._fixed(program, rules, "signup", "signup", {})
            birthday = birthdate if isinstance(birthdate, str) else None
            applied = self.accounts.apply(program, [Target(event.customer, build, birthdate=birthday)])
            outcomes.append(self._outcome(program, "signup", "signup", applied.replayed, applied.change))
            if code:
                outcomes.append(self.attribute(program, event.customer, code, "signup"))
        return outcomes

    def on_customer_updated(self, event: CustomerUpdated) -> list[Outcome]:
        changed = set(event.changed)
        birthdate = event.profile.get("birthdate")
        outcomes: list[Outcome] = []
        for program in self._programs():
            if changed & {"birthdate", "email", "name"}:
                applied = self.accounts.apply(
                    program,
                    [
                        Target(
                            event.customer,
                            lambda account: Change(before=account, account=account),
                            join=False,
                            birthdate=birthdate if isinstance(birthdate, str) else None,
                        )
                    ],
                )
                outcomes.append(self._outcome(program, "profile", "", applied.replayed, applied.change))
            code = _referral_code_of(event.profile)
            if code and any(path.startswith("metadata.referral") for path in changed):
                outcomes.append(self.attribute(program, event.customer, code, "signup"))
        return outcomes

    # -- referrals ---------------------------------------------------------------------------------------------
    def attribute(
        self, program: LoyaltyProgram, friend: CustomerRef, code: str, trigger: Literal["signup", "order"]
    ) -> Outcome:
        """The friend arrived through ``code``: start the referral (and reward the friend on sign-up)."""
        outcome: Outcome = {"program_id": program.id, "trigger": "referral", "code": code}
        owner = self.store.owner_of_referral_code(code)
        advocate = self.store.account(program.id, owner[1]) if owner and owner[0] == program.id else None
        existing = self.store.referral(program.id, friend.id)
        if existing is not None and existing.advocate.id == (advocate.customer_id if advocate else None):
            return {**outcome, "replayed": True}
        refusal = referrals.refusal(
            program,
            advocate,
            friend,
            self.store.account(program.id, friend.id),
            already_referred=existing is not None,
            advocate_referrals=advocate.referrals_completed if advocate else 0,
        )
        if refusal is not None or advocate is None:
            logger.info("referral refused: %s (program %s, friend %s)", refusal, program.id, friend.id)
            return {**outcome, "refused": refusal}
        referral = referrals.started(program, advocate, friend, self.clock())
        reward_now = trigger == "signup" and program.settings.referral.friend.trigger == "signup"
        if reward_now:
            referral = referral.model_copy(update={"friend_rewarded": True})
        targets: list[Target] = []
        if reward_now:
            targets.append(
                Target(friend, lambda account: referrals.reward_friend(program, account, referral, self.clock()))
            )
        try:
            self.accounts.apply(program, targets, referral=lambda: ReferralWrite(referral=referral))
        except AlreadyReferred:
            return {**outcome, "refused": "already_referred"}
        return {**outcome, "started": True, "advocate_id": advocate.customer_id, "friend_rewarded": reward_now}

    def complete_referral(self, program: LoyaltyProgram, friend: CustomerRef) -> Outcome:
        """The friend's first order completes a started referral: the advocate's reward (and the friend's, when
        it waits for the first order). Once: the referral record is completed conditionally."""
        outcome: Outcome = {"program_id": program.id, "trigger": "referral_completion"}
        referral = self.store.referral(program.id, friend.id)
        if referral is None or referral.completed_at is not None:
            return {**outcome, "skipped": "no open referral"}
        friend_account = self.store.account(program.id, friend.id)
        if friend_account is None or friend_account.orders < 1:
            return {**outcome, "skipped": "no order yet"}
        now = self.clock()
        completed = referral.model_copy(update={"completed_at": now, "friend_rewarded": True})
        targets = [
            Target(
                referral.advocate,
                lambda account: referrals.reward_advocate(program, account, referral, self.clock()),
                join=False,
            )
        ]
        if not referral.friend_rewarded:
            targets.append(
                Target(friend, lambda account: referrals.reward_friend(program, account, referral, self.clock()))
            )
        try:
            self.accounts.apply(program, targets, referral=lambda: ReferralWrite(referral=completed, create=False))
        except AlreadyReferred:
            return {**outcome, "skipped": "completed before"}
        return {**outcome, "completed": True, "advocate_id": referral.advocate.id}

    def _fixed(
        self,
        program: LoyaltyProgram,
        rules: list[EarningRule],
        key: str,
        source: engine.EarnSource,
        details: dict[str, Any],
    ) -> Build:
        def build(account: Account) -> Change:
            return engine.earn_fixed(program, account, rules, key=key, now=self.clock(), source=source, details=details)

        return build

    @staticmethod
    def _outcome(program: LoyaltyProgram, trigger: str, key: str, replayed: bool, change: Change | None) -> Outcome:
        outcome: Outcome = {"program_id": program.id, "trigger": trigger, "key": key, "replayed": replayed}
        if change is not None:
            outcome["points"] = sum(entry.points for entry in change.entries)
            outcome["balance"] = change.account.balance
        return outcome
