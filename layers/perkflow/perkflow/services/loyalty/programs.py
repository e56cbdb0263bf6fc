"""Loyalty programs and their earning rules, tiers and rewards (``/v1/loyalties``, Voucherify's shapes).

A program is one item holding its rules, tiers and rewards; every change is a read, a pure edit and a write
conditional on the version read (a clash re-reads and re-applies). Program names are unique (a name claim item),
as Voucherify's campaign names are: a second program of the same name is 409 ``duplicate_found``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from perkflow.domain.errors import Conflict
from perkflow.domain.loyalty.errors import Contended, not_found
from perkflow.domain.loyalty.program import LoyaltyProgram, ProgramRequest
from perkflow.domain.loyalty.rewards import RewardAssignment, RewardAssignmentRequest
from perkflow.domain.loyalty.rules import EarningRule, EarningRuleRequest
from perkflow.domain.loyalty.storage import ProgramConflict
from perkflow.domain.loyalty.tiers import Tier, TierRequest
from perkflow.domain.promotions.common import voucherify_list
from perkflow.services.loyalty.ports import LoyaltyStore

MAX_ATTEMPTS = 10
Edit = Callable[[LoyaltyProgram, datetime], LoyaltyProgram]


def _duplicate(name: str) -> Conflict:
    return Conflict(f"Duplicate resource key: campaign {name}", details=name)


class Programs:
    def __init__(self, store: LoyaltyStore, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    # -- programs -------------------------------------------------------------------------------------------
    def get_program(self, id_or_name: str, *, consistent: bool = False) -> LoyaltyProgram:
        program = self.store.program(id_or_name, consistent=consistent)
        if program is None:
            raise not_found("campaign", id_or_name)
        return program

    def create(self, body: Any) -> dict[str, Any]:
        program = LoyaltyProgram.create(ProgramRequest.parse(body), self.clock())
        try:
            self.store.save_program(program, None)
        except ProgramConflict as conflict:
            raise _duplicate(program.name) from conflict
        return program.as_voucherify()

    def list_programs(self, limit: int, page: int) -> dict[str, Any]:
        programs = sorted(self.store.programs(), key=lambda program: program.created_at, reverse=True)
        shown = programs[(page - 1) * limit : page * limit]
        return {
            "object": "list",
            "data_ref": "campaigns",
            "campaigns": [program.as_voucherify() for program in shown],
            "total": len(programs),
        }

    def get(self, id_or_name: str) -> dict[str, Any]:
        return self.get_program(id_or_name).as_voucherify()

    def update(self, id_or_name: str, body: Any) -> dict[str, Any]:
        request = ProgramRequest.parse(body)
        return self.edit(id_or_name, lambda program, now: program.updated(request, now)).as_voucherify()

    def delete(self, id_or_name: str) -> dict[str, Any]:
        program = self.get_program(id_or_name, consistent=True)
        self.store.delete_program(program)
        return {"async_action_id": None}

    def edit(self, id_or_name: str, edit: Edit) -> LoyaltyProgram:
        for _ in range(MAX_ATTEMPTS):
            before = self.get_program(id_or_name, consistent=True)
            after = edit(before, self.clock()).model_copy(update={"version": before.version + 1})
            try:
                self.store.save_program(after, before)
            except ProgramConflict as conflict:
                if conflict.name_taken:
                    raise _duplicate(after.name) from conflict
                continue
            return after
        raise Contended("The loyalty program kept changing; try again", details=id_or_name)

    # -- earning rules ------------------------------------------------------------------------------------
    def create_rules(self, id_or_name: str, body: Any) -> list[dict[str, Any]]:
        items = body if isinstance(body, list) else [body]
        requests = [EarningRuleRequest.parse(item) for item in items]
        created: list[EarningRule] = []

        def add(program: LoyaltyProgram, now: datetime) -> LoyaltyProgram:
            created.clear()
            created.extend(EarningRule.create(request, now) for request in requests)
            return program.with_rules((*program.earning_rules, *created), now)

        program = self.edit(id_or_name, add)
        return [rule.as_voucherify(program.id) for rule in created]

    def list_rules(self, id_or_name: str, tier_id: str | None = None) -> dict[str, Any]:
        program = self.get_program(id_or_name)
        rules = list(program.earning_rules)
        if tier_id is not None:
            tier = program.tier(tier_id)
            rules = [rule for rule in rules if rule.loyalty_tier_id in (None, tier.id)]
        return voucherify_list([rule.as_voucherify(program.id) for rule in rules])

    def get_rule(self, id_or_name: str, rule_id: str) -> dict[str, Any]:
        program = self.get_program(id_or_name)
        return program.rule(rule_id).as_voucherify(program.id)

    def update_rule(self, id_or_name: str, rule_id: str, body: Any) -> dict[str, Any]:
        request = EarningRuleRequest.parse(body)
        return self._change_rule(id_or_name, rule_id, lambda rule, now: rule.updated(request, now))

    def set_rule_active(self, id_or_name: str, rule_id: str, active: bool) -> dict[str, Any]:
        return self._change_rule(
            id_or_name, rule_id, lambda rule, now: rule.model_copy(update={"active": active, "updated_at": now})
        )

    def delete_rule(self, id_or_name: str, rule_id: str) -> None:
        def drop(program: LoyaltyProgram, now: datetime) -> LoyaltyProgram:
            program.rule(rule_id)
            return program.with_rules(tuple(rule for rule in program.earning_rules if rule.id != rule_id), now)

        self.edit(id_or_name, drop)

    def _change_rule(
        self, id_or_name: str, rule_id: str, change: Callable[[EarningRule, datetime], EarningRule]
    ) -> dict[str, Any]:
        def apply(program: LoyaltyProgram, now: datetime) -> LoyaltyProgram:
            program.rule(rule_id)
            rules = tuple(change(rule, now) if rule.id == rule_id else rule for rule in program.earning_rules)
            return program.with_rules(rules, now)

        program = self.edit(id_or_name, apply)
        return program.rule(rule_id).as_voucherify(program.id)

    # -- tiers ----------------------------------------------------------------------------------------------
    def create_tiers(self, id_or_name: str, body: Any) -> list[dict[str, Any]]:
        requests = TierRequest.parse_many(body)
        created: list[Tier] = []

        def add(program: LoyaltyProgram, now: datetime) -> LoyaltyProgram:
            created.clear()
            created.extend(Tier.create(request, now) for request in requests)
            return program.with_tiers((*program.tiers, *created), now)

        program = self.edit(id_or_name, add)
        return [tier.as_voucherify(program.id) for tier in created]

    def list_tiers(self, id_or_name: str) -> dict[str, Any]:
        program = self.get_program(id_or_name)
        return voucherify_list([tier.as_voucherify(program.id) for tier in program.tiers])

    def get_tier(self, id_or_name: str, tier_id: str) -> dict[str, Any]:
        program = self.get_program(id_or_name)
        return program.tier(tier_id).as_voucherify(program.id)

    def tier_rewards(self, id_or_name: str, tier_id: str) -> dict[str, Any]:
        program = self.get_program(id_or_name)
        tier = program.tier(tier_id)
        data = []
        for assignment in program.rewards:
            points = tier.reward_points(assignment.id, assignment.points)
            shown = assignment.as_voucherify(program.id)
            shown["parameters"] = {"loyalty": {"points": points}}
            data.append(
                {"reward": assignment.reward_as_voucherify(), "assignment": shown, "object": "loyalty_tier_reward"}
            )
        return voucherify_list(data)

    # -- rewards --------------------------------------------------------------------------------------------
    def assign_rewards(self, id_or_name: str, body: Any) -> dict[str, Any]:
        requests = RewardAssignmentRequest.parse_many(body)
        created: list[RewardAssignment] = []

        def add(program: LoyaltyProgram, now: datetime) -> LoyaltyProgram:
            created.clear()
            created.extend(RewardAssignment.create(request, now) for request in requests)
            return program.with_rewards((*program.rewards, *created), now)

        program = self.edit(id_or_name, add)
        return created[0].as_voucherify(program.id)

    def list_rewards(self, id_or_name: str) -> dict[str, Any]:
        program = self.get_program(id_or_name)
        return voucherify_list([assignment.as_voucherify(program.id) for assignment in program.rewards])

    def get_reward(self, id_or_name: str, assignment_id: str) -> dict[str, Any]:
        program = self.get_program(id_or_name)
        return program.reward(assignment_id).as_voucherify(program.id)

    def get_reward_definition(self, id_or_name: str, assignment_id: str) -> dict[str, Any]:
        program = self.get_program(id_or_name)
        return program.reward(assignment_id).reward_as_voucherify()

    def update_reward(self, id_or_name: str, assignment_id: str, body: Any) -> dict[str, Any]:
        request = RewardAssignmentRequest.parse_many(body)[0]

        def change(program: LoyaltyProgram, now: datetime) -> LoyaltyProgram:
            found = program.reward(assignment_id)
            rewards = tuple(item.updated(request, now) if item.id == found.id else item for item in program.rewards)
            return program.with_rewards(rewards, now)

        program = self.edit(id_or_name, change)
        return program.reward(assignment_id).as_voucherify(program.id)

    def delete_reward(self, id_or_name: str, assignment_id: str) -> None:
        def drop(program: LoyaltyProgram, now: datetime) -> LoyaltyProgram:
            found = program.reward(assignment_id)
            return program.with_rewards(tuple(item for item in program.rewards if item.id != found.id), now)

        self.edit(id_or_name, drop)
