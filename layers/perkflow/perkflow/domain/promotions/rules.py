"""Validation rules (``POST /v1/validation-rules``) and their evaluation at validation/redemption time.

Wire shape: ``{name, rules: {"1": {name, property?, conditions: {"$op": [values]}, rules: {}, error?:
{message}}, ..., "logic": "(1 and 2) or 3"}, error?: {message}, applicable_to, type, context_type}``.

Supported rule names (anything else is refused at creation with ``invalid_validation_rules``: a rule
perkflow cannot evaluate must not silently pass):
- ``customer.segment``, also spelled ``customer.segments`` and ``customer_segment`` (SDKs send both);
- ``customer.metadata`` and ``order.metadata``, with ``property`` (a key, or a dotted path);
- ``order.amount``: cents, the amount before this redeemable (what earlier redeemables left);
- ``redemption.count.per_customer``: this customer's redemptions of the code counting the one being
  attempted, so ``{"$less_than_or_equal": [1]}`` means once per customer;
- ``publication.redeemable_by_linked_customer``: only the holder may redeem (its conditions are not read).

Conditions: ``$is``/``$in`` hold when the subject equals any listed value (segments: the customer is in any
listed segment), ``$is_not``/``$not_in`` when it equals none; comparisons read the first value; several
operators in one rule must all hold.

A failed rule set answers the key of the rule that made it fail: ``customer.*`` ->
``customer_rules_violated``, ``order.*`` -> ``order_rules_violated``, every other rule ->
``redemption_rules_violated``
(errors.mdx and the spec's examples show these three); a customer rule with no customer in the request is
``missing_customer``. The message is Voucherify's generic one; the rule's ``error.message``, or else the rule
set's, goes to ``error.message``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from perkflow.domain.ids import new_id
from perkflow.domain.promotions.common import Instant, iso_or_none, parse
from perkflow.domain.promotions.errors import Failure, InvalidValidationRules
from perkflow.domain.timeutil import iso

SEGMENT_RULES = frozenset({"customer.segment", "customer.segments", "customer_segment"})
METADATA_RULES = frozenset({"customer.metadata", "order.metadata"})
NUMBER_RULES = frozenset({"order.amount", "redemption.count.per_customer"})
HOLDER_RULE = "publication.redeemable_by_linked_customer"
RULE_NAMES = SEGMENT_RULES | METADATA_RULES | NUMBER_RULES | {HOLDER_RULE}
RULE_TYPES = ("expression", "basic", "advanced", "complex")

_MEMBERSHIP = frozenset({"$is", "$in", "$is_not", "$not_in"})
_COMPARISON = frozenset({"$less_than", "$less_than_or_equal", "$more_than", "$more_than_or_equal"})
_PRESENCE = frozenset({"$has_value", "$is_unknown"})
_TEXT = frozenset({"$starts_with", "$ends_with", "$contains"})
_OPERATORS: dict[str, frozenset[str]] = {
    **dict.fromkeys(SEGMENT_RULES, _MEMBERSHIP),
    **dict.fromkeys(METADATA_RULES, _MEMBERSHIP | _COMPARISON | _PRESENCE | _TEXT),
    **dict.fromkeys(NUMBER_RULES, _MEMBERSHIP | _COMPARISON | _PRESENCE),
    HOLDER_RULE: _MEMBERSHIP,
}
_NEEDS_CUSTOMER = SEGMENT_RULES | {"customer.metadata", "redemption.count.per_customer", HOLDER_RULE}
_TOKEN = re.compile(r"\s*(?:(?P<open>\()|(?P<close>\))|(?P<op>and|or)\b|(?P<key>\w+))", re.IGNORECASE)


class RuleError(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    message: str | None = None


class Rule(BaseModel):
    """One numbered rule of a rule set."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    property: str | None = None
    conditions: dict[str, Any] = Field(default_factory=dict)
    rules: dict[str, Any] = Field(default_factory=dict)
    error: RuleError | None = None

    def as_voucherify(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "property": self.property,
            "conditions": self.conditions,
            "rules": self.rules,
        }
        if self.error is not None and self.error.message is not None:
            body["error"] = {"message": self.error.message}
        return body


class ValidationRuleCreateRequest(BaseModel):
    """``POST /v1/validation-rules``; ``rules`` holds the numbered rules and ``logic``."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1)
    rules: dict[str, Any]
    error: RuleError | None = None
    applicable_to: dict[str, Any] | None = None
    type: str | None = None
    context_type: str | None = None


@dataclass(frozen=True)
class RuleContext:
    """What rules read, gathered by the caller at validation time (segments are checked then, not earlier)."""

    customer_id: str | None = None
    segment_ids: frozenset[str] = frozenset()
    customer_metadata: Mapping[str, Any] = field(default_factory=dict)
    order_amount: int | None = None
    order_metadata: Mapping[str, Any] = field(default_factory=dict)
    customer_redemptions: int = 0  # this customer's earlier successful redemptions of the code
    holder_id: str | None = None


@dataclass(frozen=True)
class Violation:
    rule_id: str
    rule_name: str
    custom_message: str | None
    missing_customer: bool

    def failure(self, subject: str) -> Failure:
        """The failure to answer; ``subject`` names what is refused (``Gift Card``, ``Voucher``)."""
        if self.missing_customer:
            return Failure(
                "missing_customer",
                "Missing customer",
                details="Customer is required to validate rules",
                custom_message=self.custom_message,
            )
        family = self.rule_name.split(".")[0].split("_")[0]
        key, message = {
            "customer": ("customer_rules_violated", "customer does not match validation rules"),
            "order": ("order_rules_violated", "order does not match validation rules"),
        }.get(family, ("redemption_rules_violated", "redemption does not match validation rules"))
        details = f"{subject} cannot be redeemed because of violated validation rules: {self.rule_id}"
        return Failure(key, message, details=details, custom_message=self.custom_message)


class ValidationRule(BaseModel):
    """A rule set (``val_``), checked at creation so that evaluation never meets an unknown rule."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    rules: dict[str, Rule]
    logic: str
    error: RuleError | None = None
    applicable_to: dict[str, Any] = Field(default_factory=dict)
    type: str = "expression"
    context_type: str = "global"
    created_at: Instant
    updated_at: Instant | None = None

    @classmethod
    def create(cls, request: ValidationRuleCreateRequest, now: datetime) -> ValidationRule:
        raw = dict(request.rules)
        logic = raw.pop("logic", None)
        if not raw:
            raise InvalidValidationRules("rules needs at least one rule")
        rules = {key: _checked_rule(key, value) for key, value in sorted(raw.items(), key=lambda item: _order(item[0]))}
        if logic is None:
            logic = " and ".join(rules)
        if not isinstance(logic, str):
            raise InvalidValidationRules("rules.logic must be a string", details=repr(logic))
        used = _keys(_parse_logic(logic))
        if used != set(rules):
            unknown, unused = sorted(used - set(rules)), sorted(set(rules) - used)
            raise InvalidValidationRules(
                "rules.logic must use every rule, and only those", details=f"unknown {unknown}, unused {unused}"
            )
        rule_type = request.type or "expression"
        if rule_type not in RULE_TYPES:
            raise InvalidValidationRules(f"type must be one of {', '.join(RULE_TYPES)}", details=rule_type)
        applicable_to = request.applicable_to or {}
        if applicable_to.get("included") or applicable_to.get("excluded"):
            # Item-level applicability needs the item math perkflow does not do; refuse rather than ignore it.
            raise InvalidValidationRules("applicable_to with included/excluded items is not supported")
        return cls(
            id=new_id("val_"),
            name=request.name,
            rules=rules,
            logic=logic,
            error=request.error,
            applicable_to={"excluded": [], "included": [], "included_all": False, **applicable_to},
            type=rule_type,
            context_type=request.context_type or "global",
            created_at=now,
        )

    def evaluate(self, context: RuleContext) -> Violation | None:
        """None when the rule set holds, else the rule that made it fail."""
        results = {key: _holds(rule, context) for key, rule in self.rules.items()}
        blamed = _blame(_parse_logic(self.logic), results)
        if blamed is None:
            return None
        rule = self.rules[blamed]
        custom = (rule.error.message if rule.error else None) or (self.error.message if self.error else None)
        return Violation(
            rule_id=self.id,
            rule_name=rule.name,
            custom_message=custom,
            missing_customer=rule.name in _NEEDS_CUSTOMER and context.customer_id is None,
        )

    def as_voucherify(self, assignments_count: int = 0) -> dict[str, Any]:
        rules: dict[str, Any] = {key: rule.as_voucherify() for key, rule in self.rules.items()}
        rules["logic"] = self.logic
        return {
            "id": self.id,
            "name": self.name,
            "rules": rules,
            "error": {"message": self.error.message} if self.error and self.error.message else None,
            "applicable_to": self.applicable_to,
            "type": self.type,
            "context_type": self.context_type,
            "created_at": iso(self.created_at),
            "updated_at": iso_or_none(self.updated_at),
            "assignments_count": assignments_count,
            "object": "validation_rules",
        }


def first_violation(rule_sets: tuple[ValidationRule, ...], context: RuleContext) -> Violation | None:
    """Every assigned rule set must hold; the first that fails is answered."""
    for rule_set in rule_sets:
        violation = rule_set.evaluate(context)
        if violation is not None:
            return violation
    return None


def _order(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (1 << 30, key)


def _checked_rule(key: str, value: Any) -> Rule:
    rule = parse(Rule, value, InvalidValidationRules, f"rule {key} is not a rule")
    if rule.name not in RULE_NAMES:
        raise InvalidValidationRules(
            f"rule {key}: perkflow does not evaluate {rule.name!r}",
            details=f"supported: {', '.join(sorted(RULE_NAMES))}",
        )
    if rule.rules:
        raise InvalidValidationRules(f"rule {key}: nested rules are not supported")
    if rule.name in METADATA_RULES and not rule.property:
        raise InvalidValidationRules(f"rule {key}: {rule.name} needs property")
    if rule.name != HOLDER_RULE and not rule.conditions:
        raise InvalidValidationRules(f"rule {key}: conditions are required")
    allowed = _OPERATORS[rule.name]
    for operator in rule.conditions:
        if operator not in allowed:
            raise InvalidValidationRules(
                f"rule {key}: {rule.name} does not take {operator}", details=f"allowed: {', '.join(sorted(allowed))}"
            )
    return rule


# -- logic: "1 and (2 or 3)"; "and" binds tighter than "or" ---------------------------------------------------


@dataclass(frozen=True)
class _Op:
    op: Literal["and", "or"]
    parts: tuple[_Expr, ...]


_Expr = str | _Op  # a rule key, or an operation over sub-expressions


def _tokens(logic: str) -> list[str]:
    tokens, position = [], 0
    while logic[position:].strip():
        match = _TOKEN.match(logic, position)
        if match is None:
            raise InvalidValidationRules("rules.logic is not valid", details=f"{logic!r} at {position}")
        tokens.append(match.group(match.lastgroup or "key").lower())
        position = match.end()
    return tokens


def _parse_logic(logic: str) -> _Expr:
    tokens = _tokens(logic)
    expression, rest = _parse_or(tokens, logic)
    if rest or not tokens:
        raise InvalidValidationRules("rules.logic is not valid", details=repr(logic))
    return expression


def _parse_or(tokens: list[str], logic: str) -> tuple[_Expr, list[str]]:
    parts = []
    part, tokens = _parse_and(tokens, logic)
    parts.append(part)
    while tokens[:1] == ["or"]:
        part, tokens = _parse_and(tokens[1:], logic)
        parts.append(part)
    return (parts[0] if len(parts) == 1 else _Op("or", tuple(parts))), tokens


def _parse_and(tokens: list[str], logic: str) -> tuple[_Expr, list[str]]:
    parts = []
    part, tokens = _parse_atom(tokens, logic)
    parts.append(part)
    while tokens[:1] == ["and"]:
        part, tokens = _parse_atom(tokens[1:], logic)
        parts.append(part)
    return (parts[0] if len(parts) == 1 else _Op("and", tuple(parts))), tokens


def _parse_atom(tokens: list[str], logic: str) -> tuple[_Expr, list[str]]:
    if tokens[:1] == ["("]:
        inner, rest = _parse_or(tokens[1:], logic)
        if rest[:1] != [")"]:
            raise InvalidValidationRules("rules.logic has an unclosed parenthesis", details=repr(logic))
        return inner, rest[1:]
    if not tokens or tokens[0] in ("and", "or", ")"):
        raise InvalidValidationRules("rules.logic is missing a rule number", details=repr(logic))
    return tokens[0], tokens[1:]


def _keys(expression: _Expr) -> set[str]:
    if isinstance(expression, str):
        return {expression}
    return set().union(*(_keys(part) for part in expression.parts))


def _blame(expression: _Expr, results: Mapping[str, bool]) -> str | None:
    """None when ``expression`` holds; else the rule key to blame: the first failing part of an ``and``,
    the first part of an ``or`` whose parts all failed."""
    if isinstance(expression, str):
        return None if results[expression] else expression
    blamed = [_blame(part, results) for part in expression.parts]
    if expression.op == "and":
        return next((key for key in blamed if key is not None), None)
    return None if None in blamed else blamed[0]


# -- conditions ---------------------------------------------------------------------------------------------


def _holds(rule: Rule, context: RuleContext) -> bool:
    if rule.name in _NEEDS_CUSTOMER and context.customer_id is None:
        return False
    if rule.name == HOLDER_RULE:
        # The rule is the condition: its conditions carry no information, so they are not read.
        return context.holder_id is not None and context.holder_id == context.customer_id
    if rule.name in SEGMENT_RULES:
        return all(
            _in_segments(operator, _values(values), context.segment_ids) for operator, values in rule.conditions.items()
        )
    subject: Any
    if rule.name == "order.amount":
        subject = context.order_amount
    elif rule.name == "redemption.count.per_customer":
        subject = context.customer_redemptions + 1
    else:
        source = context.customer_metadata if rule.name == "customer.metadata" else context.order_metadata
        subject = _lookup(source, rule.property or "")
    return all(_matches(operator, _values(values), subject) for operator, values in rule.conditions.items())


def _values(values: Any) -> list[Any]:
    return list(values) if isinstance(values, list | tuple) else [values]


def _in_segments(operator: str, expected: list[Any], segments: frozenset[str]) -> bool:
    member = any(str(segment) in segments for segment in expected)
    return member if operator in ("$is", "$in") else not member


def _lookup(source: Mapping[str, Any], path: str) -> Any:
    """A metadata value by ``property``: the key itself, else a dotted path into nested objects."""
    if path in source:
        return source[path]
    value: Any = source
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _equal(left: Any, right: Any) -> bool:
    # Conditions often carry numbers as strings ("1"); compare numerically when both sides are numbers.
    if left == right:
        return True
    left_number, right_number = _number(left), _number(right)
    return left_number is not None and left_number == right_number


def _matches(operator: str, expected: list[Any], subject: Any) -> bool:
    items = subject if isinstance(subject, list) else [subject]
    if operator == "$has_value":
        return subject is not None and subject != "" and subject != []
    if operator == "$is_unknown":
        return subject is None
    if operator in ("$is", "$in"):
        return any(_equal(item, value) for item in items for value in expected)
    if operator in ("$is_not", "$not_in"):
        return not any(_equal(item, value) for item in items for value in expected)
    if operator in _COMPARISON:
        number, bound = _number(subject), _number(expected[0] if expected else None)
        if number is None or bound is None:
            return False
        return {
            "$less_than": number < bound,
            "$less_than_or_equal": number <= bound,
            "$more_than": number > bound,
            "$more_than_or_equal": number >= bound,
        }[operator]
    texts = [str(item) for item in items if item is not None]
    if operator == "$starts_with":
        return any(text.startswith(str(value)) for text in texts for value in expected)
    if operator == "$ends_with":
        return any(text.endswith(str(value)) for text in texts for value in expected)
    return any(str(value) in text for text in texts for value in expected)  # $contains
