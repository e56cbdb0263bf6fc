"""Validation rules and their assignments to campaigns and vouchers (``/v1/validation-rules``).

Rule sets are immutable once created (perkflow has no rule update): checkouts cache them per container.
Assigning a rule to a campaign or a voucher (or removing it) takes effect at the next checkout.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from perkflow.domain.errors import NotFound
from perkflow.domain.ids import new_id
from perkflow.domain.promotions.common import parse, voucherify_list
from perkflow.domain.promotions.errors import InvalidValidationRules
from perkflow.domain.promotions.rules import ValidationRule, ValidationRuleCreateRequest
from perkflow.domain.promotions.state import Assignment
from perkflow.services.promotions.ports import CatalogStore, VoucherStore

OBJECT_TYPES = ("campaign", "voucher")


class AssignmentRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    related_object_type: str
    related_object_id: str = Field(min_length=1)


def rule_not_found(rule_id: str) -> NotFound:
    return NotFound(
        f"Resource not found: validation rules {rule_id}",
        details=rule_id,
        extra={"resource_id": rule_id, "resource_type": "validation_rules"},
    )


class RuleService:
    def __init__(self, catalog: CatalogStore, vouchers: VoucherStore, clock: Callable[[], datetime]) -> None:
        self.catalog = catalog
        self.vouchers = vouchers
        self.clock = clock

    def create(self, body: Any) -> dict[str, Any]:
        request = parse(ValidationRuleCreateRequest, body, InvalidValidationRules, "Invalid validation rules")
        rule = ValidationRule.create(request, self.clock())
        self.catalog.create_rule(rule)
        return rule.as_voucherify()

    def rule(self, rule_id: str) -> ValidationRule:
        rule = self.catalog.rule(rule_id)
        if rule is None:
            raise rule_not_found(rule_id)
        return rule

    def get(self, rule_id: str) -> dict[str, Any]:
        rule = self.rule(rule_id)
        return rule.as_voucherify(assignments_count=len(self.catalog.assignments(rule_id)))

    def list(self, limit: int) -> dict[str, Any]:
        rules = self.catalog.rules(limit)
        return voucherify_list([rule.as_voucherify() for rule in rules])

    def assign(self, rule_id: str, body: Any) -> dict[str, Any]:
        self.rule(rule_id)
        request = parse(AssignmentRequest, body, InvalidValidationRules, "Invalid assignment")
        if request.related_object_type not in OBJECT_TYPES:
            raise InvalidValidationRules(
                f"perkflow assigns rules to {' and '.join(OBJECT_TYPES)}s", details=request.related_object_type
            )
        object_id, code = request.related_object_id, None
        if request.related_object_type == "voucher":
            stored = self.vouchers.get(object_id)
            if stored is None:
                raise NotFound(
                    f"Resource not found: voucher {object_id}",
                    details=object_id,
                    extra={"resource_id": object_id, "resource_type": "voucher"},
                )
            object_id, code = stored.voucher.id, stored.voucher.code
        else:
            campaign = self.catalog.campaign(object_id)
            if campaign is None:
                raise NotFound(
                    f"Resource not found: campaign {object_id}",
                    details=object_id,
                    extra={"resource_id": object_id, "resource_type": "campaign"},
                )
            object_id = campaign.id
        assignment = Assignment(
            id=new_id("asgm_"),
            rule_id=rule_id,
            related_object_id=object_id,
            related_object_type=request.related_object_type,
            created_at=self.clock(),
        )
        self.catalog.assign(assignment, code)
        return assignment.as_voucherify()

    def assignments(self, rule_id: str) -> dict[str, Any]:
        self.rule(rule_id)
        return voucherify_list([assignment.as_voucherify() for assignment in self.catalog.assignments(rule_id)])

    def unassign(self, rule_id: str, assignment_id: str) -> None:
        found = [assignment for assignment in self.catalog.assignments(rule_id) if assignment.id == assignment_id]
        if not found:
            raise NotFound(
                f"Resource not found: validation rules assignment {assignment_id}",
                details=assignment_id,
                extra={"resource_id": assignment_id, "resource_type": "validation_rules_assignment"},
            )
        assignment = found[0]
        code = None
        if assignment.related_object_type == "voucher":
            stored = self.vouchers.get(assignment.related_object_id)
            code = stored.voucher.code if stored else None
        self.catalog.unassign(assignment, code)
