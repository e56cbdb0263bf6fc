"""Members through the API: joining, the card (balance, pending and expiring points), the ledger, manual
balance changes and tiers, and buying rewards with points.

A member is addressed as Voucherify does, by its loyalty card code or ``v_`` id (``memberId``); perkflow also
takes the customer's ``cust_`` id or source id when the program is in the path (or the customer is in exactly
one program).

Buying a reward (``POST .../members/{id}/redemption``) is one atomic debit that never overdraws: the account
is written conditionally on the version read, so of many parallel redemptions exactly as many succeed as the
balance covers and the others answer 400 ``loyalty_card_points_exceeded``. Then the reward's code is issued;
if it cannot be (no codes left), the points are given back and the request fails with the issuer's key. A
``source_id`` in the body (perkflow) makes the request replay-safe: a repeat answers the first redemption.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from perkflow.domain.customers import customer_id_for
from perkflow.domain.errors import InvalidPayload, NotFound, PerkflowError
from perkflow.domain.events import CustomerRef
from perkflow.domain.ids import new_id
from perkflow.domain.loyalty import engine, ledger, schedule
from perkflow.domain.loyalty.engine import Change
from perkflow.domain.loyalty.errors import InvalidBalance, InvalidReward, not_found
from perkflow.domain.loyalty.ledger import Account, LedgerEntry
from perkflow.domain.loyalty.program import LoyaltyProgram
from perkflow.domain.loyalty.rewards import RewardAssignment
from perkflow.domain.loyalty.tiers import ordered, rank_of
from perkflow.domain.promotions.common import Instant, iso_or_none, parse, voucherify_list
from perkflow.domain.promotions.customer_input import CustomerInput
from perkflow.domain.timeutil import iso, parse_iso
from perkflow.services.loyalty.accounts import Accounts, Target
from perkflow.services.loyalty.ports import Customers, LoyaltyStore
from perkflow.services.loyalty.programs import Programs


class BalanceRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    points: int
    reason: str | None = None
    source_id: str | None = Field(default=None, min_length=1)
    expiration_type: str | None = Field(default=None, pattern="^(PROGRAM_RULES|CUSTOM_DATE|NON_EXPIRING)$")
    expiration_date: Instant | None = None


class _RewardChoice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(min_length=1)
    points: int | None = Field(default=None, ge=1)


class RedeemRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    reward: _RewardChoice
    metadata: dict[str, Any] = Field(default_factory=dict)
    source_id: str | None = Field(default=None, min_length=1)
    order: dict[str, Any] | None = None


class _TierChoice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    tier_id: str | None = None


class Members:
    def __init__(
        self,
        store: LoyaltyStore,
        programs: Programs,
        accounts: Accounts,
        customers: Customers,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.programs = programs
        self.accounts = accounts
        self.customers = customers
        self.clock = clock

    # -- finding members -------------------------------------------------------------------------------------
    def resolve(self, program_key: str | None, member: str) -> tuple[LoyaltyProgram, Account]:
        program = self.programs.get_program(program_key) if program_key else None
        owner = self.store.owner_of_card(member)
        if owner is None and member.startswith("v_"):
            owner = self.store.owner_of_member_id(member)
        if owner is not None and (program is None or owner[0] == program.id):
            program = program or self.programs.get_program(owner[0])
            account = self.store.account(owner[0], owner[1])
            if account is not None:
                return program, account
        customer_ids = [member] if member.startswith("cust_") else []
        customer_ids.append(customer_id_for(member))
        for customer_id in customer_ids:
            if program is not None:
                account = self.store.account(program.id, customer_id)
                if account is not None:
                    return program, account
            else:
                accounts = self.store.accounts_of_customer(customer_id)
                if len(accounts) == 1:
                    return self.programs.get_program(accounts[0].program_id), accounts[0]
        raise not_found("voucher", member)

    # -- joining and reading -------------------------------------------------------------------------------
    def add(self, program_key: str, body: Any) -> dict[str, Any]:
        """``POST /v1/loyalties/{id}/members``: the customer (upserted) joins; joining twice answers the card."""
        program = self.programs.get_program(program_key)
        if not isinstance(body, dict):
            raise InvalidPayload("Body must be a JSON object")
        given = CustomerInput.of(body.get("customer"))
        if given is None:
            raise PerkflowError("Customer is required", key="missing_customer", details="customer")
        customer = self.customers.upsert(given.model_dump(exclude_none=True))
        ref = CustomerRef(
            id=customer.id, source_id=customer.source_id, email=customer.profile.email, name=customer.profile.name
        )
        self.accounts.apply(
            program,
            [
                Target(
                    ref, lambda account: Change(before=account, account=account), birthdate=customer.profile.birthdate
                )
            ],
        )
        account = self.store.account(program.id, customer.id)
        assert account is not None
        return self.card(program, account)

    def get(self, program_key: str | None, member: str) -> dict[str, Any]:
        program, account = self.resolve(program_key, member)
        return self.card(program, account)

    def list_members(self, program_key: str, limit: int, page: int) -> dict[str, Any]:
        program = self.programs.get_program(program_key)
        accounts, _ = self.store.members(program.id, limit=limit, skip=(page - 1) * limit)
        return {
            "object": "list",
            "data_ref": "vouchers",
            "vouchers": [self.card(program, account) for account in accounts],
            "total": len(accounts),
        }

    def card(self, program: LoyaltyProgram, account: Account) -> dict[str, Any]:
        """The member as Voucherify's loyalty card voucher (``LoyaltiesMembersGetResponseBody``)."""
        expiry = account.next_expiry()
        tiers = ordered(list(program.tiers))
        rank = rank_of(tiers, account.tier_id)
        return {
            "id": account.member_id,
            "code": account.code,
            "campaign": program.name,
            "campaign_id": program.id,
            "category": None,
            "category_id": None,
            "type": "LOYALTY_CARD",
            "discount": None,
            "gift": None,
            "loyalty_card": {
                "points": account.balance + account.spent,
                "balance": account.balance,
                "next_expiration_date": expiry[0] if expiry else None,
                "next_expiration_points": expiry[1] if expiry else None,
                "pending_points": account.pending_points,
                "expired_points": account.expired,
                "subtracted_points": account.spent,
            },
            "start_date": None,
            "expiration_date": None,
            "validity_timeframe": None,
            "validity_day_of_week": None,
            "active": True,
            "additional_info": None,
            "metadata": {},
            "is_referral_code": False,
            "created_at": iso(account.joined_at),
            "updated_at": None,
            "holder_id": account.customer_id,
            "object": "voucher",
            "publish": {"object": "list", "count": 1, "url": None},
            "redemption": {
                "quantity": None,
                "redeemed_quantity": account.redeemed_rewards,
                "redeemed_points": account.spent,
                "object": "list",
                "url": None,
            },
            "perkflow": {
                "tier": {"id": tiers[rank].id, "name": tiers[rank].name, "rank": rank} if rank >= 0 else None,
                "tier_since": account.tier_since,
                "manual_tier_id": account.floor_tier_id,
                "referral_code": account.referral_code,
                "referral_url": engine.referral_url(program, account),
                "referred_customers": account.referrals_completed,
                "lifetime_points": account.metrics.lifetime_points,
                "lifetime_spent": account.metrics.lifetime_cents,
            },
        }

    # -- the ledger ---------------------------------------------------------------------------------------------
    def transactions(self, program_key: str | None, member: str, limit: int, after: str | None) -> dict[str, Any]:
        program, account = self.resolve(program_key, member)
        entries, more = self.store.entries(program.id, account.customer_id, limit=limit, after_id=after)
        return {
            "object": "list",
            "data_ref": "data",
            "data": [self._transaction(program, account, entry) for entry in entries],
            "has_more": more,
            "more_starting_after": entries[-1].id if more and entries else None,
        }

    @staticmethod
    def _transaction(program: LoyaltyProgram, account: Account, entry: LedgerEntry) -> dict[str, Any]:
        details: dict[str, Any] = {
            "balance": {
                "type": "loyalty_card",
                "total": entry.balance,
                "object": "balance",
                "points": entry.points,
                "balance": entry.balance,
                "operation_type": "MANUAL"
                if entry.source == "API" and entry.type.startswith("POINTS_")
                else "AUTOMATIC",
                "related_object": {"id": account.member_id, "type": "voucher"},
            }
        }
        for name in ("order", "reward", "redemption", "segment"):
            if isinstance(entry.details.get(name), dict):
                details[name] = {
                    key: entry.details[name].get(key)
                    for key in ("id", "name", "source_id")
                    if key in entry.details[name]
                }
        rules = entry.details.get("earning_rules")
        if rules:
            details["earning_rule"] = {"id": rules[0]["id"], "source": {"banner": None}}
        event = entry.details.get("event")
        if isinstance(event, dict):
            details["event"] = {"id": event.get("id"), "type": event.get("type")}
        return {
            "id": entry.id,
            "source_id": entry.key,
            "voucher_id": account.member_id,
            "campaign_id": program.id,
            "source": entry.source,
            "reason": entry.reason,
            "type": entry.type,
            "details": details,
            "related_transaction_id": entry.details.get("related_transaction_id"),
            "created_at": iso(entry.created_at),
            "perkflow": {"pending_points": entry.pending, "expires_on": entry.expires_on},
        }

    def adjust(self, program_key: str | None, member: str, body: Any) -> dict[str, Any]:
        request = parse(BalanceRequest, body, InvalidBalance, "Invalid balance change")
        program, account = self.resolve(program_key, member)
        key = f"adjust:{request.source_id or new_id('req_')}"
        self.accounts.apply(
            program,
            [
                Target(
                    account.customer,
                    lambda current: engine.adjust(
                        program,
                        current,
                        request.points,
                        key=key,
                        now=self.clock(),
                        reason=request.reason,
                        expiration_type=request.expiration_type,
                        expiration_date=request.expiration_date,
                    ),
                    join=False,
                )
            ],
        )
        stored = self.store.account(program.id, account.customer_id)
        assert stored is not None
        entry = self.store.entry(program.id, account.customer_id, key)
        points = entry.points if entry is not None else request.points
        return {
            "points": points,
            "total": stored.balance,
            "balance": stored.balance,
            "type": "loyalty_card",
            "object": "balance",
            "related_object": {"type": "voucher", "id": stored.member_id},
            "operation_type": "MANUAL",
        }

    # -- pending and expiring points ---------------------------------------------------------------------------
    def pending(self, program_key: str | None, member: str) -> dict[str, Any]:
        program, account = self.resolve(program_key, member)
        items = sorted(account.pending.values(), key=lambda item: (item.activates_on, item.id))
        data = [
            {
                "id": item.id,
                "voucher_id": account.member_id,
                "campaign_id": program.id,
                "customer_id": account.customer_id,
                "order_id": (item.source.get("order") or {}).get("id"),
                "points": item.points,
                "activates_at": item.activates_on,
                "details": {
                    "order": item.source.get("order"),
                    "event": {"type": "customer.order.paid"},
                },
                "created_at": iso(item.created_at),
                "updated_at": None,
            }
            for item in items
        ]
        return {"object": "list", "data_ref": "data", "data": data, "has_more": False, "more_starting_after": None}

    def activate(self, member: str, pending_id: str) -> dict[str, Any]:
        program, account = self.resolve(None, member)
        if pending_id not in account.pending:
            raise not_found("loyalty_pending_points", pending_id)
        points = account.pending[pending_id].points

        def build(current: Account) -> Change:
            change = Change(before=current, account=current)
            if pending_id in current.pending:
                engine.activate(program, change, pending_id, self.clock(), manual=True)
            return change

        self.accounts.apply(program, [Target(account.customer, build, join=False)])
        stored = self.store.account(program.id, account.customer_id)
        assert stored is not None
        return {
            "points": points,
            "total": stored.balance,
            "balance": stored.balance,
            "type": "loyalty_card",
            "object": "balance",
            "related_object": {"type": "voucher", "id": stored.member_id},
            "operation_type": "MANUAL",
        }

    def cancel_pending(self, member: str, pending_id: str) -> None:
        program, account = self.resolve(None, member)
        if pending_id not in account.pending:
            raise not_found("loyalty_pending_points", pending_id)

        def build(current: Account) -> Change:
            if pending_id not in current.pending:
                return Change(before=current, account=current)
            after, entry = ledger.cancel_pending(
                current, pending_id, key=f"cancel:{pending_id}", now=self.clock(), reason="cancelled through the API"
            )
            return Change(before=current, account=after, entries=[entry])

        self.accounts.apply(program, [Target(account.customer, build, join=False)])

    def expiration(self, program_key: str | None, member: str) -> dict[str, Any]:
        program, account = self.resolve(program_key, member)
        today = program.today(self.clock())
        data = [
            {
                "id": f"lpb_{account.member_id}_{expires_on.isoformat()}",
                "voucher_id": account.member_id,
                "campaign_id": program.id,
                "bucket": {"total_points": points},
                "status": "ACTIVE",
                "expires_at": expires_on.isoformat(),
                "created_at": None,
                "updated_at": None,
                "object": "loyalty_points_bucket",
            }
            for expires_on, points in schedule.expiring(program, account, today)
        ]
        return {"object": "list", "data_ref": "data", "data": data, "total": len(data)}

    # -- tiers ------------------------------------------------------------------------------------------------
    def tiers(self, member: str) -> dict[str, Any]:
        program, account = self.resolve(None, member)
        if account.tier_id is None:
            return voucherify_list([])
        tier = program.tier(account.tier_id)
        since = account.tier_since
        expiration = {
            "customer_id": account.customer_id,
            "campaign_id": program.id,
            "tier_id": tier.id,
            "start_date": since,
            "expiration_date": None,
            "created_at": None,
            "updated_at": None,
        }
        return voucherify_list([tier.as_voucherify(program.id, expiration)])

    def set_tier(self, program_key: str | None, member: str, body: Any) -> dict[str, Any]:
        choice = parse(_TierChoice, body, InvalidBalance, "Invalid tier")
        program, account = self.resolve(program_key, member)
        self.accounts.apply(
            program,
            [
                Target(
                    account.customer,
                    lambda current: engine.set_floor(program, current, choice.tier_id, self.clock()),
                    join=False,
                )
            ],
        )
        stored = self.store.account(program.id, account.customer_id)
        assert stored is not None
        return self.card(program, stored)

    # -- rewards --------------------------------------------------------------------------------------------------
    def rewards(self, member: str, affordable_only: bool) -> dict[str, Any]:
        program, account = self.resolve(None, member)
        data = []
        for assignment in program.rewards:
            price = engine.reward_price(program, account, assignment)
            if price is None or (affordable_only and price > account.balance):
                continue
            shown = assignment.as_voucherify(program.id)
            shown["parameters"] = {"loyalty": {"points": price}}
            data.append({"reward": assignment.reward_as_voucherify(), "assignment": shown, "object": "loyalty_reward"})
        return voucherify_list(data)

    def redeem(self, program_key: str | None, member: str, body: Any) -> dict[str, Any]:
        request = parse(RedeemRequest, body, InvalidReward, "Invalid reward redemption")
        program, account = self.resolve(program_key, member)
        try:
            assignment = program.reward(request.reward.id)
        except NotFound as exc:
            raise not_found("reward", request.reward.id) from exc
        source_id = request.source_id or (request.order or {}).get("source_id")
        redemption_id = engine.new_redemption_id(program.id, account.customer_id, source_id)
        applied = self.accounts.apply(
            program,
            [
                Target(
                    account.customer,
                    lambda current: engine.redeem(
                        program,
                        current,
                        assignment,
                        redemption_id=redemption_id,
                        points=request.reward.points,
                        now=self.clock(),
                        metadata=request.metadata,
                    ),
                    join=False,
                )
            ],
        )
        if not applied.replayed:
            outcome = applied.fulfilled.get(redemption_id) or self.accounts.fulfil(
                program, account.customer, redemption_id
            )
            if outcome.failure is not None:
                raise PerkflowError(
                    outcome.failure.message,
                    key=outcome.failure.key,
                    status=outcome.failure.status,
                    details=assignment.id,
                )
        return self._redemption(program, account.customer_id, assignment, redemption_id, source_id)

    def _redemption(
        self,
        program: LoyaltyProgram,
        customer_id: str,
        assignment: RewardAssignment,
        redemption_id: str,
        source_id: str | None,
    ) -> dict[str, Any]:
        spend = self.store.entry(program.id, customer_id, f"redeem:{redemption_id}")
        if spend is None:
            raise not_found("redemption", redemption_id)
        refund = self.store.entry(program.id, customer_id, f"refund:{redemption_id}")
        notice = self.store.notice(program.id, customer_id, f"reward:{redemption_id}")
        account = self.store.account(program.id, customer_id)
        assert account is not None
        issued = notice.data if notice is not None else {}
        reward = assignment.reward_as_voucherify()
        for name in ("stock", "redeemed", "attributes"):
            reward.pop(name)  # not part of a redemption's reward (RedemptionRewardResult)
        reward.update({"assignment_id": assignment.id, "loyalty_tier_id": account.tier_id})
        if issued.get("code"):
            reward["voucher"] = {
                "id": issued.get("voucher_id"),
                "code": issued.get("code"),
                "campaign_id": assignment.campaign_id,
                "expiration_date": iso_or_none(parse_iso(issued["expires_at"])) if issued.get("expires_at") else None,
                "holder_id": customer_id,
                "object": "voucher",
            }
        failed = refund is not None
        return {
            "id": redemption_id,
            "object": "redemption",
            "date": iso(spend.created_at),
            "customer_id": customer_id,
            "tracking_id": source_id,
            "metadata": spend.details.get("metadata") or {},
            "amount": None,
            "redemption": None,
            "result": "FAILURE" if failed else "SUCCESS",
            "status": "FAILED" if failed else "SUCCEEDED",
            "channel": {"channel_id": None, "channel_type": "API"},
            "customer": {
                "id": customer_id,
                "name": account.customer.name,
                "email": account.customer.email,
                "source_id": account.customer.source_id,
                "metadata": {},
                "object": "customer",
            },
            "related_object_type": "voucher",
            "related_object_id": account.member_id,
            "voucher": {
                "id": account.member_id,
                "code": account.code,
                "campaign": program.name,
                "campaign_id": program.id,
                "type": "LOYALTY_CARD",
                "loyalty_card": {"points": account.balance + account.spent, "balance": account.balance},
                "holder_id": customer_id,
                "object": "voucher",
            },
            "reward": reward,
            "loyalty_card": {"points": -spend.points},
            "perkflow": {
                "fulfillment": "PENDING" if notice is None and not failed else ("FAILED" if failed else "ISSUED")
            },
        }
