"""Programs, members and triggers for the loyalty unit tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from perkflow.domain.events import CustomerRef
from perkflow.domain.loyalty import engine
from perkflow.domain.loyalty.engine import Change
from perkflow.domain.loyalty.ledger import Account
from perkflow.domain.loyalty.orders import completed_order
from perkflow.domain.loyalty.program import LoyaltyProgram, ProgramRequest
from perkflow.domain.loyalty.rewards import RewardAssignment, RewardAssignmentRequest
from perkflow.domain.loyalty.rules import EarningRule, EarningRuleRequest
from perkflow.domain.loyalty.tiers import Tier, TierRequest

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
MICHAEL = CustomerRef(id="cust_michael", source_id="michael.scott", email="michael@dundermifflin.com", name="Michael")
JIM = CustomerRef(id="cust_jim", source_id="jim.halpert", email="jim@dundermifflin.com", name="Jim")

ORDER_RULE: dict[str, Any] = {
    "event": "order.paid",
    "loyalty": {
        "type": "PROPORTIONAL",
        "calculation_type": "ORDER_AMOUNT",
        "order": {"amount": {"every": 100, "points": 1}},
    },
}


def program(perkflow: dict[str, Any] | None = None, **body: Any) -> LoyaltyProgram:
    request = ProgramRequest.parse({"name": "Dunder Club", "perkflow": perkflow or {}, **body})
    return LoyaltyProgram.create(request, NOW - timedelta(days=30))


def with_rules(base: LoyaltyProgram, *rules: dict[str, Any]) -> LoyaltyProgram:
    created = tuple(EarningRule.create(EarningRuleRequest.parse(rule), NOW) for rule in rules)
    return base.with_rules((*base.earning_rules, *created), NOW)


def with_tiers(base: LoyaltyProgram, *tiers: dict[str, Any]) -> LoyaltyProgram:
    created = tuple(Tier.create(request, NOW) for request in TierRequest.parse_many(list(tiers)))
    return base.with_tiers((*base.tiers, *created), NOW)


def with_reward(base: LoyaltyProgram, name: str, points: int | None, campaign: str = "camp_rewards") -> LoyaltyProgram:
    body: dict[str, Any] = {"reward": {"name": name, "type": "CAMPAIGN", "parameters": {"campaign": {"id": campaign}}}}
    if points is not None:
        body["parameters"] = {"loyalty": {"points": points}}
    assignment = RewardAssignment.create(RewardAssignmentRequest.parse_many([body])[0], NOW)
    return base.with_rewards((*base.rewards, assignment), NOW)


def member(base: LoyaltyProgram, customer: CustomerRef = MICHAEL, *, birthdate: str | None = None) -> Account:
    account = engine.new_account(base, customer, NOW, birthdate=birthdate)
    return engine.joined(base, account, NOW).account


def order(total: Any, order_id: str = "ORD-1", **extra: Any) -> dict[str, Any]:
    return {"order_id": order_id, "total": total, **extra}


def earn_order(base: LoyaltyProgram, account: Account, properties: dict[str, Any], now: datetime = NOW) -> Change:
    parsed = completed_order(properties)
    return engine.earn_order(base, account, parsed, key=f"order:{parsed.order_id}", now=now, details={})


def day(value: str) -> date:
    return date.fromisoformat(value)


def at(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC) if "+" not in value else datetime.fromisoformat(value)
