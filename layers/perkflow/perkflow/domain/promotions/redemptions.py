"""Validation and redemption: which redeemables apply to an order, for how much, and the answers.

One engine serves the stackable endpoints (``POST /v1/validations``, ``POST /v1/redemptions``) and the legacy
per-voucher ones (``POST /v1/vouchers/{code}/validate|redemption``, a stack of one). :func:`evaluate` takes
each requested redeemable with what storage found for it and decides, in request order (Voucherify's
``REQUESTED_ORDER``):

1. found? (``not_found``, 404) - promotion tiers and stacks are never found: perkflow has none;
2. usable now? campaign or voucher disabled (``voucher_disabled``), before ``start_date``
   (``voucher_not_active``), from ``expiration_date`` on (``voucher_expired``), redemption limit reached
   (``quantity_exceeded``);
3. validation rules (``customer_rules_violated`` ...; rules read the amount earlier redeemables left);
4. money: a gift card needs an order amount (``missing_order``, ``missing_amount``) and a balance; its
   credits are ``gift.credits`` when asked, else the whole balance, capped by what is left of the order;
   credits above the balance, a zero balance included, are ``gift_amount_exceeded``. Discounts take
   AMOUNT off, PERCENT of what is left (Voucherify's "based on discounted amount" mode, capped by
   ``amount_limit``), or bring the order down to the FIXED amount.

Stacking: ``ALL`` (the default) makes the request valid only if every redeemable applies, and marks those
after the first failure ``SKIPPED`` (``preceding_validation_failed``); ``PARTIAL`` applies what it can.
Failures inside a validation are data (HTTP 200, ``valid: false``); a redemption with nothing to apply, or
any failure in ALL mode, is refused: :class:`Refusal` holds the FAILED redemption record to store and the
4xx error to answer (Voucherify does not document the stackable failure body; this is the legacy one).

Storage applies :class:`RedemptionPlan` atomically: each voucher's ``redeemed_quantity`` + 1 while under
its limit and ``gift.balance`` - credits while the balance covers them, with the redemption records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from perkflow.domain.customers import Customer
from perkflow.domain.errors import PerkflowError
from perkflow.domain.ids import new_id
from perkflow.domain.promotions.campaigns import Campaign
from perkflow.domain.promotions.common import Instant, voucherify_list
from perkflow.domain.promotions.errors import Failure, InvalidRedeemables, gift_amount_exceeded
from perkflow.domain.promotions.orders import OrderRequest
from perkflow.domain.promotions.rules import RuleContext, ValidationRule, first_violation
from perkflow.domain.promotions.vouchers import Voucher
from perkflow.domain.timeutil import iso

Mode = Literal["ALL", "PARTIAL"]
Status = Literal["APPLICABLE", "INAPPLICABLE", "SKIPPED"]
TtlUnit = Literal["DAYS", "HOURS", "MINUTES", "SECONDS", "MILLISECONDS", "MICROSECONDS", "NANOSECONDS"]
MAX_REDEEMABLES = 30  # Voucherify's highest redeemables_limit
_SUBJECT = {"GIFT_VOUCHER": "Gift Card", "DISCOUNT_VOUCHER": "Voucher"}
_PRECEDING = {
    "key": "preceding_validation_failed",
    "message": "Redeemable cannot be applied due to preceding validation failure",
}


# -- requests -----------------------------------------------------------------------------------------------


class GiftCredits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    credits: int | None = Field(default=None, ge=1, description="cents to spend; default: what the order needs")


class RedeemableRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    object: Literal["voucher", "promotion_tier", "promotion_stack"] = "voucher"
    id: str = Field(min_length=1, description="the voucher code (or id)")
    gift: GiftCredits | None = None


class SessionRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    key: str | None = None
    type: Literal["LOCK"] = "LOCK"
    ttl: int | None = Field(default=None, ge=1)
    ttl_unit: TtlUnit | None = None

    def as_voucherify(self) -> dict[str, Any]:
        """The session answered: Voucherify's default is a 7-day LOCK. Holding it is the service's job."""
        return {
            "key": self.key or new_id("ssn_"),
            "type": self.type,
            "ttl": self.ttl or 7,
            "ttl_unit": self.ttl_unit or "DAYS",
        }


class StackableRequest(BaseModel):
    """``POST /v1/validations`` and ``POST /v1/redemptions`` (``validateStackable`` / ``redeemStackable``).

    ``customer`` is upserted by the service, which passes the resulting :class:`Customer` to :func:`evaluate`.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    redeemables: list[RedeemableRequest]
    order: OrderRequest | None = None
    customer: dict[str, Any] | None = None
    session: SessionRequest | None = None
    tracking_id: str | None = None
    metadata: dict[str, Any] | None = None

    def checked(self) -> StackableRequest:
        """The request, or 400 ``invalid_redeemables`` / ``duplicated_redeemables``."""
        if not self.redeemables or len(self.redeemables) > MAX_REDEEMABLES:
            raise InvalidRedeemables("Invalid redeemables", details=f"send 1 to {MAX_REDEEMABLES} redeemables")
        seen: set[tuple[str, str]] = set()
        for redeemable in self.redeemables:
            if (redeemable.object, redeemable.id) in seen:
                raise InvalidRedeemables(
                    "Duplicated redeemables detected",
                    key="duplicated_redeemables",
                    details="Duplicated redeemables detected in one redemption",
                )
            seen.add((redeemable.object, redeemable.id))
        return self


class VoucherRequest(BaseModel):
    """The legacy ``POST /v1/vouchers/{code}/validate`` and ``/redemption`` body."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    customer: dict[str, Any] | None = None
    order: OrderRequest | None = None
    gift: GiftCredits | None = None
    session: SessionRequest | None = None
    tracking_id: str | None = None
    metadata: dict[str, Any] | None = None

    def as_stackable(self, code: str) -> StackableRequest:
        return StackableRequest(
            redeemables=[RedeemableRequest(object="voucher", id=code, gift=self.gift)],
            order=self.order,
            customer=self.customer,
            session=self.session,
            tracking_id=self.tracking_id,
            metadata=self.metadata,
        )


# -- evaluation ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A requested redeemable and what storage found for it."""

    request: RedeemableRequest
    voucher: Voucher | None = None  # None: not found
    campaign: Campaign | None = None
    rules: tuple[ValidationRule, ...] = ()  # the rule sets assigned to the voucher and its campaign
    customer_redemptions: int = 0  # the customer's earlier successful redemptions of this voucher


@dataclass(frozen=True)
class Outcome:
    candidate: Candidate
    status: Status
    failure: Failure | None = None
    applied: int = 0  # cents this redeemable takes off the order (gift credits or discount)
    discount_so_far: int = 0  # order-level discount once this redeemable and those before it applied

    @property
    def voucher(self) -> Voucher | None:
        return self.candidate.voucher


@dataclass(frozen=True)
class Stack:
    """The decision for a whole request."""

    outcomes: tuple[Outcome, ...]
    order: OrderRequest | None
    customer: Customer | None
    mode: Mode

    @property
    def applicable(self) -> tuple[Outcome, ...]:
        return tuple(outcome for outcome in self.outcomes if outcome.status == "APPLICABLE")

    @property
    def valid(self) -> bool:
        if self.mode == "ALL":
            return len(self.applicable) == len(self.outcomes) > 0
        return bool(self.applicable)

    @property
    def discount(self) -> int:
        return sum(outcome.applied for outcome in self.applicable)

    @property
    def first_failure(self) -> Outcome | None:
        return next((outcome for outcome in self.outcomes if outcome.status == "INAPPLICABLE"), None)


def evaluate(
    candidates: Sequence[Candidate],
    *,
    order: OrderRequest | None,
    customer: Customer | None,
    segment_ids: frozenset[str],
    now: datetime,
    mode: Mode = "ALL",
) -> Stack:
    """Decide each redeemable in request order against what the ones before it left of the order."""
    found = [candidate.voucher.id for candidate in candidates if candidate.voucher is not None]
    if len(found) != len(set(found)):
        # One card named twice (by code and by v_ id) would spend its balance twice.
        raise InvalidRedeemables(
            "Duplicated redeemables detected", key="duplicated_redeemables", details="one voucher named twice"
        )
    amount = order.total() if order is not None else None
    discount = 0
    outcomes: list[Outcome] = []
    failed = False
    for candidate in candidates:
        if failed and mode == "ALL":
            outcomes.append(Outcome(candidate, "SKIPPED", discount_so_far=discount))
            continue
        remaining = None if amount is None else amount - discount
        decided = _decide(candidate, order=order, remaining=remaining, customer=customer, segments=segment_ids, now=now)
        if isinstance(decided, Failure):
            failed = True
            outcomes.append(Outcome(candidate, "INAPPLICABLE", failure=decided, discount_so_far=discount))
        else:
            discount += decided
            outcomes.append(Outcome(candidate, "APPLICABLE", applied=decided, discount_so_far=discount))
    return Stack(outcomes=tuple(outcomes), order=order, customer=customer, mode=mode)


def _decide(
    candidate: Candidate,
    *,
    order: OrderRequest | None,
    remaining: int | None,
    customer: Customer | None,
    segments: frozenset[str],
    now: datetime,
) -> Failure | int:
    """What the redeemable takes off the order, or why it cannot."""
    request, voucher = candidate.request, candidate.voucher
    if voucher is None or request.object != "voucher":
        return Failure(
            "not_found",
            "Resource not found",
            details=f"Cannot find {request.object} with id {request.id}",
            code=404,
            resource_id=request.id,
            resource_type=request.object,
        )
    if candidate.campaign is not None and not candidate.campaign.active:
        return Failure("voucher_disabled", "voucher is disabled", details=voucher.code)
    unusable = voucher.unusable(now)
    if unusable is not None:
        return unusable
    context = RuleContext(
        customer_id=customer.id if customer else None,
        segment_ids=segments,
        customer_metadata=customer.profile.metadata if customer else {},
        order_amount=remaining,
        order_metadata=(order.metadata or {}) if order else {},
        customer_redemptions=candidate.customer_redemptions,
        holder_id=voucher.holder_id,
    )
    violation = first_violation(candidate.rules, context)
    if violation is not None:
        return violation.failure(_SUBJECT[voucher.type])
    if voucher.gift is not None:
        return _gift_credits(voucher, request, order, remaining)
    assert voucher.discount is not None  # a voucher is a gift card or a discount
    return voucher.discount.amount_for(remaining or 0)


def _gift_credits(
    voucher: Voucher, request: RedeemableRequest, order: OrderRequest | None, remaining: int | None
) -> Failure | int:
    assert voucher.gift is not None
    if order is None:
        return Failure("missing_order", "Missing order", details=voucher.code)
    if remaining is None:
        return Failure("missing_amount", "Missing amount", details=voucher.code)
    balance = voucher.available_balance
    asked = request.gift.credits if request.gift else None
    if balance <= 0 or (asked is not None and asked > balance):
        return gift_amount_exceeded(voucher.code)
    # Never charge the card more than the order still costs.
    return min(balance if asked is None else asked, remaining)


# -- validation answers -------------------------------------------------------------------------------------


def stacking_rules(mode: Mode) -> dict[str, Any]:
    """The stacking rules perkflow applies (echoed in every stackable validation)."""
    return {
        "redeemables_limit": MAX_REDEEMABLES,
        "applicable_redeemables_limit": MAX_REDEEMABLES,
        "applicable_redeemables_per_category_limit": MAX_REDEEMABLES,
        "applicable_redeemables_category_limits": {},
        "applicable_exclusive_redeemables_limit": 5,
        "applicable_exclusive_redeemables_per_category_limit": 5,
        "exclusive_categories": [],
        "joint_categories": [],
        "redeemables_application_mode": mode,
        "redeemables_sorting_rule": "REQUESTED_ORDER",
        "redeemables_products_application_mode": "STACK",
        "redeemables_no_effect_rule": "REDEEM_ANYWAY",
        "no_effect_skip_categories": [],
        "no_effect_redeem_anyway_categories": [],
        "redeemables_rollback_order_mode": "WITH_ORDER",
    }


def validation_response(
    stack: Stack, *, request_id: str, tracking_id: str | None, session: SessionRequest | None = None
) -> dict[str, Any]:
    """The ``POST /v1/validations`` body (always HTTP 200)."""
    redeemables = [_redeemable_json(outcome, stack, request_id) for outcome in stack.outcomes]
    body: dict[str, Any] = {
        "id": new_id("valid_"),
        "valid": stack.valid,
        "redeemables": redeemables,
        "inapplicable_redeemables": [item for item in redeemables if item["status"] == "INAPPLICABLE"],
        "skipped_redeemables": [item for item in redeemables if item["status"] == "SKIPPED"],
        "tracking_id": tracking_id,
        "stacking_rules": stacking_rules(stack.mode),
    }
    if stack.order is not None:
        body["order"] = _order_json(stack.order, stack.customer, stack.discount)
    if session is not None and stack.valid:
        body["session"] = session.as_voucherify()
    return body


def legacy_validation_response(
    stack: Stack, *, request_id: str, tracking_id: str | None, session: SessionRequest | None = None
) -> dict[str, Any]:
    """The ``POST /v1/vouchers/{code}/validate`` body (HTTP 200 either way) for a stack of one voucher."""
    (outcome,) = stack.outcomes
    voucher, code = outcome.voucher, outcome.candidate.request.id
    if outcome.failure is not None:
        return {
            "valid": False,
            "code": code,
            "reason": outcome.failure.message,
            "error": outcome.failure.as_error(request_id),
            "tracking_id": tracking_id,
            "customer_id": stack.customer.id if stack.customer else None,
            "metadata": voucher.metadata if voucher else {},
        }
    assert voucher is not None
    body: dict[str, Any] = {
        "valid": True,
        "code": voucher.code,
        "applicable_to": voucherify_list([]),
        "inapplicable_to": voucherify_list([]),
        "campaign": voucher.campaign,
        "campaign_id": voucher.campaign_id,
        "metadata": voucher.metadata,
        "start_date": iso(voucher.start_date) if voucher.start_date else None,
        "expiration_date": iso(voucher.expiration_date) if voucher.expiration_date else None,
        "tracking_id": tracking_id,
    }
    if voucher.gift is not None:
        body["gift"] = voucher.gift.as_voucherify()
    if voucher.discount is not None:
        body["discount"] = voucher.discount.as_voucherify()
    if stack.order is not None:
        body["order"] = _order_json(stack.order, stack.customer, stack.discount)
    if session is not None:
        body["session"] = session.as_voucherify()
    return body


def _redeemable_json(outcome: Outcome, stack: Stack, request_id: str) -> dict[str, Any]:
    request, voucher = outcome.candidate.request, outcome.voucher
    body: dict[str, Any] = {"status": outcome.status, "id": request.id, "object": request.object}
    if outcome.status == "SKIPPED":
        body["result"] = {"details": dict(_PRECEDING)}
    elif outcome.failure is not None:
        body["result"] = {"error": outcome.failure.as_error(request_id)}
    else:
        assert voucher is not None
        if stack.order is not None:
            body["order"] = _order_json(stack.order, stack.customer, outcome.discount_so_far, applied=outcome.applied)
        body["applicable_to"] = voucherify_list([])
        body["inapplicable_to"] = voucherify_list([])
        if voucher.gift is not None:
            body["result"] = {"gift": {"credits": outcome.applied, "balance": voucher.gift.balance}}
        else:
            assert voucher.discount is not None
            body["result"] = {"discount": voucher.discount.as_voucherify()}
    if voucher is not None:
        body["metadata"] = voucher.metadata
        body["categories"] = []
        body["campaign_name"] = voucher.campaign
        body["campaign_id"] = voucher.campaign_id
    return body


def _order_json(
    order: OrderRequest, customer: Customer | None, discount: int, *, applied: int | None = None, **extra: Any
) -> dict[str, Any]:
    return order.as_voucherify(
        discount_amount=discount,
        applied_discount_amount=discount if applied is None else applied,
        customer_id=customer.id if customer else None,
        **extra,
    )


# -- redemption ---------------------------------------------------------------------------------------------


class Redemption(BaseModel):
    """A redemption record (``r_``; ``rf_`` for a refused one): what storage keeps and the API answers."""

    model_config = ConfigDict(frozen=True)

    id: str
    date: Instant
    customer_id: str | None = None
    tracking_id: str | None = None
    metadata: dict[str, Any] | None = None
    amount: int | None = Field(default=None, description="gift credits spent, cents")
    parent_id: str | None = Field(default=None, description="the parent redemption of a stacked one")
    result: Literal["SUCCESS", "FAILURE"]
    status: Literal["SUCCEEDED", "FAILED", "ROLLED_BACK"]
    failure_code: str | None = None
    failure_message: str | None = None
    order: dict[str, Any] | None = None
    customer: dict[str, Any] | None = None
    related_object_type: Literal["voucher", "redemption"]
    related_object_id: str
    voucher: dict[str, Any] | None = Field(default=None, description="the voucher after this redemption")

    def as_voucherify(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "redemption",
            "date": iso(self.date),
            "customer_id": self.customer_id,
            "tracking_id": self.tracking_id,
            "metadata": self.metadata,
            "redemption": self.parent_id,
            "result": self.result,
            "status": self.status,
            "order": self.order,
            "channel": {"channel_id": None, "channel_type": "API"},
            "customer": self.customer,
            "related_object_type": self.related_object_type,
            "related_object_id": self.related_object_id,
        }
        if self.amount is not None:
            body["amount"] = self.amount
            body["gift"] = {"amount": self.amount}
        if self.failure_code is not None:
            body["failure_code"] = self.failure_code
            body["failure_message"] = self.failure_message
        if self.voucher is not None:
            body["voucher"] = self.voucher
        return body


@dataclass(frozen=True)
class RedemptionPlan:
    """A successful redemption, to store atomically and answer."""

    stack: Stack
    parent: Redemption | None  # stacked redemptions have one; a legacy redemption does not
    redemptions: tuple[Redemption, ...]
    vouchers: tuple[Voucher, ...]  # each redeemed voucher as it is after the redemption
    order: dict[str, Any]

    def as_voucherify(self, request_id: str) -> dict[str, Any]:
        """The ``POST /v1/redemptions`` body."""
        answered = [_redeemable_json(outcome, self.stack, request_id) for outcome in self.stack.outcomes]
        body: dict[str, Any] = {
            "redemptions": [redemption.as_voucherify() for redemption in self.redemptions],
            "order": self.order,
            "inapplicable_redeemables": [item for item in answered if item["status"] == "INAPPLICABLE"],
            "skipped_redeemables": [item for item in answered if item["status"] == "SKIPPED"],
        }
        if self.parent is not None:
            body["parent_redemption"] = self.parent.as_voucherify()
        return body

    def legacy_response(self) -> dict[str, Any]:
        """The ``POST /v1/vouchers/{code}/redemption`` body: the one redemption, in the legacy schema, which
        predates ``status`` and the parent ``redemption`` (``GET /v1/redemptions/{id}`` answers both)."""
        (redemption,) = self.redemptions
        body = redemption.as_voucherify()
        del body["status"], body["redemption"]
        return body


@dataclass(frozen=True)
class Refusal:
    """A redemption refused: store ``redemption`` (its FAILED record), then answer ``error``."""

    redemption: Redemption
    failure: Failure

    @property
    def error(self) -> PerkflowError:
        return self.failure.to_error(resource_id=self.redemption.id)


def redeem(
    stack: Stack,
    *,
    now: datetime,
    tracking_id: str | None,
    metadata: dict[str, Any] | None = None,
    order_id: str | None = None,
    stacked: bool = True,
    redemption_id: str | None = None,
) -> RedemptionPlan | Refusal:
    """Turn a decided stack into redemption records (``stacked=False``: the legacy single redemption).

    ``order_id``: the stored order's id when the service already has one (orders upsert by ``source_id``).
    ``redemption_id``: the id of the redemption that answers the request (the parent of a stacked one, the
    one record of a legacy one), when the service derives it from an idempotency key; else a new id.
    """
    customer_json = _simple_customer(stack.customer)
    customer_id = stack.customer.id if stack.customer else None
    if not stack.valid:
        outcome = stack.first_failure
        if outcome is None or outcome.failure is None:
            raise InvalidRedeemables("Invalid redeemables", details="nothing to redeem")
        record = Redemption(
            id=new_id("rf_"),
            date=now,
            customer_id=customer_id,
            tracking_id=tracking_id,
            metadata=metadata,
            result="FAILURE",
            status="FAILED",
            failure_code=outcome.failure.key,
            failure_message=outcome.failure.message,
            order=_order_json(stack.order, stack.customer, 0) if stack.order is not None else None,
            customer=customer_json,
            related_object_type="voucher",
            related_object_id=outcome.voucher.id if outcome.voucher else outcome.candidate.request.id,
            voucher=outcome.voucher.as_voucherify() if outcome.voucher else None,
        )
        return Refusal(redemption=record, failure=outcome.failure)

    order_request = stack.order or OrderRequest()
    order_fields: dict[str, Any] = {
        "order_id": order_id or order_request.id or new_id("ord_"),
        "status": order_request.status or "PAID",
        "created_at": now,
    }
    parent_id = (redemption_id or new_id("r_")) if stacked else None
    children: list[Redemption] = []
    vouchers: list[Voucher] = []
    for outcome in stack.applicable:
        voucher = outcome.voucher
        assert voucher is not None
        credits = outcome.applied if voucher.gift is not None else 0
        after = voucher.redeemed(credits, now)
        vouchers.append(after)
        children.append(
            Redemption(
                id=new_id("r_") if stacked or redemption_id is None else redemption_id,
                date=now,
                customer_id=customer_id,
                tracking_id=tracking_id,
                metadata=metadata,
                amount=credits if voucher.gift is not None else None,
                parent_id=parent_id,
                result="SUCCESS",
                status="SUCCEEDED",
                order=_order_json(
                    order_request, stack.customer, outcome.discount_so_far, applied=outcome.applied, **order_fields
                ),
                customer=customer_json,
                related_object_type="voucher",
                related_object_id=voucher.id,
                voucher=after.as_voucherify(),
            )
        )
    order = order_request.as_voucherify(
        discount_amount=stack.discount,
        applied_discount_amount=stack.discount,
        customer_id=customer_id,
        **order_fields,
    )
    parent = None
    if parent_id is not None:
        order["redemptions"] = {
            parent_id: {
                "date": iso(now),
                "related_object_type": "redemption",
                "related_object_id": parent_id,
                "stacked": [child.id for child in children],
            }
        }
        parent = Redemption(
            id=parent_id,
            date=now,
            customer_id=customer_id,
            tracking_id=tracking_id,
            metadata=metadata,
            result="SUCCESS",
            status="SUCCEEDED",
            order=order,
            customer=customer_json,
            related_object_type="redemption",
            related_object_id=parent_id,
        )
    else:
        (child,) = children
        order["redemptions"] = {
            child.id: {
                "date": iso(now),
                "related_object_type": "voucher",
                "related_object_id": child.related_object_id,
                "related_object_parent_id": vouchers[0].campaign_id,
            }
        }
        # A legacy redemption is the whole story of its order, so it carries the full order.
        children = [child.model_copy(update={"order": order})]
    return RedemptionPlan(
        stack=stack, parent=parent, redemptions=tuple(children), vouchers=tuple(vouchers), order=order
    )


def _simple_customer(customer: Customer | None) -> dict[str, Any] | None:
    if customer is None:
        return None
    return {
        "id": customer.id,
        "name": customer.profile.name,
        "email": customer.profile.email,
        "source_id": customer.source_id,
        "metadata": customer.profile.metadata,
        "object": "customer",
    }
