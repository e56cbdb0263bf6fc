"""Referrals, Smile-style: an advocate shares a URL with their code; a friend who arrives through it is
rewarded on sign-up or on the first order (``perkflow.referral.friend.trigger``), and the advocate is rewarded
when the friend's first order completes the referral.

A referral is refused (and nothing is written) when the code is unknown, the friend is the advocate (same
customer or same e-mail address), the friend was referred before (one referrer per friend, kept by a
conditional write), the friend has already ordered (not a new customer), or the advocate reached
``max_per_advocate``. Rewards are points, a reward of the program (a code), or both.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from perkflow.domain.events import CustomerRef
from perkflow.domain.ids import stable_id
from perkflow.domain.loyalty import engine
from perkflow.domain.loyalty.engine import Change, Notice
from perkflow.domain.loyalty.ledger import Account, Fulfillment
from perkflow.domain.loyalty.program import LoyaltyProgram
from perkflow.domain.promotions.common import Instant

Refusal = Literal["unknown_code", "self_referral", "already_referred", "not_a_new_customer", "limit_reached"]


class Referral(BaseModel):
    """The friend's side of a referral (one per friend per program)."""

    model_config = ConfigDict(frozen=True)

    program_id: str
    friend: CustomerRef
    advocate: CustomerRef
    code: str
    url: str
    started_at: Instant
    friend_rewarded: bool = False
    completed_at: Instant | None = None


def refusal(
    program: LoyaltyProgram,
    advocate: Account | None,
    friend: CustomerRef,
    friend_account: Account | None,
    *,
    already_referred: bool,
    advocate_referrals: int,
) -> Refusal | None:
    if advocate is None or not program.settings.referral.enabled:
        return "unknown_code"
    if advocate.customer_id == friend.id:
        return "self_referral"
    emails = (advocate.customer.email or "").strip().lower(), (friend.email or "").strip().lower()
    if emails[0] and emails[0] == emails[1]:
        return "self_referral"
    if already_referred:
        return "already_referred"
    if friend_account is not None and friend_account.orders > 0:
        return "not_a_new_customer"
    limit = program.settings.referral.max_per_advocate
    if limit is not None and advocate_referrals >= limit:
        return "limit_reached"
    return None


def started(program: LoyaltyProgram, advocate: Account, friend: CustomerRef, now: datetime) -> Referral:
    code = str(advocate.referral_code)
    return Referral(
        program_id=program.id,
        friend=friend,
        advocate=advocate.customer,
        code=code,
        url=program.referral_url(code),
        started_at=now,
    )


def _context(referral: Referral) -> dict[str, Any]:
    return {
        "referral_code": referral.code,
        "referral_url": referral.url,
        "advocate": referral.advocate.model_dump(),
        "referee": referral.friend.model_dump(),
    }


def reward_friend(program: LoyaltyProgram, friend: Account, referral: Referral, now: datetime) -> Change:
    """The friend's reward (once: ``referral-friend``), announced as ``loyalty.referral.started``."""
    settings = program.settings.referral.friend
    key = "referral-friend"
    change = engine.give_points(
        program, friend, settings.points, key=key, now=now, source="referral", details={"referral": _context(referral)}
    )
    _reward_or_notice(program, change, settings.reward_id, "referral_friend", key, settings.points, referral, now)
    return change


def reward_advocate(program: LoyaltyProgram, advocate: Account, referral: Referral, now: datetime) -> Change:
    """The advocate's reward when the friend's first order completes the referral (``loyalty.referral.completed``)."""
    settings = program.settings.referral.advocate
    key = f"referral-advocate:{referral.friend.id}"
    change = engine.give_points(
        program,
        advocate,
        settings.points,
        key=key,
        now=now,
        source="referral",
        details={"referral": _context(referral)},
    )
    change.account = change.account.model_copy(update={"referrals_completed": change.account.referrals_completed + 1})
    _reward_or_notice(program, change, settings.reward_id, "referral_advocate", key, settings.points, referral, now)
    return change


def _reward_or_notice(
    program: LoyaltyProgram,
    change: Change,
    reward_id: str | None,
    reason: Literal["referral_friend", "referral_advocate"],
    key: str,
    points: int,
    referral: Referral,
    now: datetime,
) -> None:
    context = {**_context(referral), "points": points}
    reward = program.find_reward(reward_id)
    if reward is not None:
        owed = Fulfillment(
            id=stable_id("lrf_", program.id, change.account.customer_id, key),
            reward_id=reward.id,
            reason=reason,
            created_at=now,
            context=context,
        )
        change.account = engine.owe(change.account, owed)
        return
    kind: Literal["referral_started", "referral_completed"] = (
        "referral_started" if reason == "referral_friend" else "referral_completed"
    )
    change.notices.append(Notice(key=key, kind=kind, created_at=now, data=context))
