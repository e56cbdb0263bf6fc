"""Validations, redemptions and rollbacks (stackable and legacy), on the promotions domain.

Redemption makes two DynamoDB calls when nothing races it: one BatchGetItem (:meth:`CheckoutStore.load`)
and one TransactWriteItems. A concurrent change of a voucher refuses the transaction; the refusal carries
the voucher's new state, so the request is decided again from it and retried without another read.
Idempotency: a redemption with ``order.source_id`` / ``order.id`` or a session key gets a redemption id
derived from that key; its record is written only if absent, so a repeat answers the first result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import quote

from perkflow.domain.customers import Customer, Profile, customer_id_for
from perkflow.domain.errors import InvalidPayload, NotFound, PerkflowError
from perkflow.domain.ids import stable_id
from perkflow.domain.promotions import announcements, rollbacks, sessions, summary
from perkflow.domain.promotions.common import parse
from perkflow.domain.promotions.customer_input import CustomerInput, upsert
from perkflow.domain.promotions.errors import InvalidRollback
from perkflow.domain.promotions.redemptions import (
    Candidate,
    Redemption,
    RedemptionPlan,
    Refusal,
    SessionRequest,
    Stack,
    StackableRequest,
    evaluate,
    legacy_validation_response,
    redeem,
    validation_response,
)
from perkflow.domain.promotions.rollbacks import RedemptionRollback, RollbackRequest
from perkflow.domain.promotions.state import (
    AlreadyRolledBack,
    CheckoutState,
    Contention,
    CustomerChanged,
    RedemptionCommit,
    RefusalCommit,
    Replayed,
    RollbackCommit,
    StoredVoucher,
    UsesChanged,
    VoucherChange,
    VoucherChanged,
)
from perkflow.services.promotions.ports import CheckoutStore, Rules

MAX_ATTEMPTS = 60  # each refused attempt means another request changed the voucher: progress is made


def _busy() -> PerkflowError:
    return PerkflowError(
        "Too many concurrent requests for these redeemables",
        key="multiple_requests",
        status=409,
        details="another redemption kept changing the same vouchers; try again",
    )


class CheckoutService:
    def __init__(self, store: CheckoutStore, rules: Rules, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.rules = rules
        self.clock = clock

    # -- validation -----------------------------------------------------------------------------------------
    def validate(self, body: Any, *, request_id: str, legacy_code: str | None = None) -> dict[str, Any]:
        request = self._request(body, legacy_code)
        session = sessions.with_key(request.session) if request.session is not None else None
        given = CustomerInput.of(request.customer)
        codes = [redeemable.id for redeemable in request.redeemables]
        state = self.store.load(codes, given.customer_id if given else None)
        for _ in range(MAX_ATTEMPTS):
            now = self.clock()
            customer = self._customer(state, given, now)
            stack = self._evaluate(request, state, customer, session.key if session else None, now)
            if session is not None and stack.valid:
                try:
                    self._reserve(stack, state, session, customer, now)
                except VoucherChanged as changed:
                    state = _with_voucher(state, changed)
                    continue
            tracking_id = request.tracking_id or (customer.source_id if customer else None)
            if legacy_code is not None:
                return legacy_validation_response(
                    stack, request_id=request_id, tracking_id=tracking_id, session=session
                )
            return validation_response(stack, request_id=request_id, tracking_id=tracking_id, session=session)
        raise _busy()

    def _reserve(
        self, stack: Stack, state: CheckoutState, session: SessionRequest, customer: Customer | None, now: datetime
    ) -> None:
        expires = sessions.expiry(session, now)
        changes = []
        for outcome in stack.applicable:
            assert outcome.voucher is not None
            stored = state.vouchers[outcome.candidate.request.id]
            credits = outcome.applied if stored.voucher.gift is not None else 0
            reservation = sessions.Reservation(
                key=str(session.key), credits=credits, expires_at=expires, customer_id=customer.id if customer else None
            )
            changes.append(VoucherChange(before=stored, after=stored.voucher, add_reservation=reservation))
        self.store.reserve(changes, now)

    # -- redemption -----------------------------------------------------------------------------------------
    def redeem(self, body: Any, *, request_id: str, legacy_code: str | None = None) -> dict[str, Any]:
        """The redemption's answer; a refusal raises its error after storing its FAILED record."""
        request = self._request(body, legacy_code)
        given = CustomerInput.of(request.customer)
        redemption_id = _idempotent_id(request)
        codes = [redeemable.id for redeemable in request.redeemables]
        session_key = request.session.key if request.session is not None else None
        state = self.store.load(codes, given.customer_id if given else None, redemption_id)
        for _ in range(MAX_ATTEMPTS):
            if state.replay is not None:
                return state.replay
            now = self.clock()
            customer, customer_write = upsert(state.customer, given, now) if given else (None, None)
            stack = self._evaluate(request, state, customer, session_key, now)
            tracking_id = request.tracking_id or (customer.source_id if customer else None)
            outcome = redeem(
                stack,
                now=now,
                tracking_id=tracking_id,
                metadata=request.metadata,
                order_id=_order_id(request),
                stacked=legacy_code is None,
                redemption_id=redemption_id,
            )
            if isinstance(outcome, Refusal):
                self._refuse(outcome, stack, state, now)
                raise outcome.error
            answer = outcome.as_voucherify(request_id) if legacy_code is None else outcome.legacy_response()
            commit = RedemptionCommit(
                plan=outcome,
                answer=answer,
                changes=tuple(self._changes(outcome, state, session_key)),
                announced=tuple(announcements.succeeded(outcome, now)),
                summary=summary.for_redemption(outcome, now),
                uses={state.vouchers[rid].code: state.uses.get(rid, 0) for rid in _redeemed_ids(outcome)}
                if customer
                else {},
                customer_write=customer_write,
                now=now,
            )
            try:
                self.store.commit_redemption(commit)
            except Replayed as replayed:
                return replayed.answer
            except VoucherChanged as changed:
                state = _with_voucher(state, changed)
                continue
            except (UsesChanged, CustomerChanged, Contention):
                state = self.store.load(codes, given.customer_id if given else None, redemption_id)
                continue
            return answer
        raise _busy()

    def _refuse(self, refusal: Refusal, stack: Stack, state: CheckoutState, now: datetime) -> None:
        outcome = stack.first_failure
        voucher = outcome.voucher if outcome is not None else None
        known_customer = state.customer is not None and stack.customer is not None
        self.store.commit_refusal(
            RefusalCommit(
                announced=announcements.failed(refusal, voucher, stack.customer, now),
                summary=summary.for_refusal(refusal) if known_customer else {},
                voucher_code=voucher.code if voucher is not None else None,
                now=now,
            )
        )

    def _changes(self, plan: RedemptionPlan, state: CheckoutState, session_key: str | None) -> list[VoucherChange]:
        after_by_id = {voucher.id: voucher for voucher in plan.vouchers}
        changes = []
        for outcome in plan.stack.applicable:
            stored = state.vouchers[outcome.candidate.request.id]
            after = after_by_id[stored.voucher.id]
            held = session_key is not None and any(item.key == session_key for item in stored.reservations)
            changes.append(
                VoucherChange(
                    before=stored,
                    after=after.model_copy(update={"active": stored.voucher.active}),
                    consume_session=session_key if held else None,
                )
            )
        return changes

    # -- shared -------------------------------------------------------------------------------------------------
    @staticmethod
    def _request(body: Any, legacy_code: str | None) -> StackableRequest:
        from perkflow.domain.promotions.redemptions import VoucherRequest

        if legacy_code is not None:
            legacy = parse(VoucherRequest, body or {}, InvalidPayload, "Invalid payload")
            return legacy.as_stackable(legacy_code).checked()
        return parse(StackableRequest, body, InvalidPayload, "Invalid payload").checked()

    def _customer(self, state: CheckoutState, given: CustomerInput | None, now: datetime) -> Customer | None:
        """The customer a validation means (an unknown one is evaluated as new, and not stored)."""
        if given is None:
            return None
        if state.customer is not None:
            return state.customer.with_profile(state.customer.profile.merged_with(given.profile()), now)
        if given.source_id is None:
            raise NotFound(
                f"Resource not found: customer {given.id}",
                details=str(given.id),
                extra={"resource_id": given.id, "resource_type": "customer"},
            )
        return Customer.new(given.source_id, Profile().merged_with(given.profile()), now)

    def _evaluate(
        self,
        request: StackableRequest,
        state: CheckoutState,
        customer: Customer | None,
        session_key: str | None,
        now: datetime,
    ) -> Stack:
        candidates = []
        for redeemable in request.redeemables:
            stored = state.vouchers.get(redeemable.id)
            if stored is None:
                candidates.append(Candidate(request=redeemable))
                continue
            voucher = sessions.for_request(stored.voucher, stored.reservations, session_key, now)
            rule_ids = set(stored.rule_ids)
            switches = state.campaigns.get(voucher.campaign_id or "")
            if switches is not None:
                rule_ids |= switches.rule_ids
                if not switches.active:
                    voucher = voucher.model_copy(update={"active": False})
            rules = self.rules.get(rule_ids)
            candidates.append(
                Candidate(
                    request=redeemable,
                    voucher=voucher,
                    rules=tuple(rules[rule_id] for rule_id in sorted(rules)),
                    customer_redemptions=state.uses.get(redeemable.id, 0),
                )
            )
        return evaluate(
            candidates,
            order=request.order,
            customer=customer,
            segment_ids=state.segment_ids,
            now=now,
        )

    # -- rollbacks ----------------------------------------------------------------------------------------------
    def rollback(self, redemption_id: str, body: Any, query: dict[str, str | None], *, stacked: bool) -> dict[str, Any]:
        given = parse(RollbackRequest, body or {}, InvalidRollback, "Invalid rollback")
        reason = query.get("reason") or given.reason
        tracking_id = query.get("tracking_id") or given.tracking_id
        for _ in range(MAX_ATTEMPTS):
            found = self.store.redemption(redemption_id)
            record = found[1] if found is not None else None
            if found is None or not isinstance(record, Redemption):
                raise NotFound(
                    f"Resource not found: redemption {redemption_id}",
                    details=redemption_id,
                    extra={"resource_id": redemption_id, "resource_type": "redemption"},
                )
            item = found[0]
            refused = rollbacks.refusal(record, stacked=stacked)
            if refused is not None:
                raise refused
            children = self.store.redemptions(list(item.get("children") or [])) if stacked else [record]
            children = [child for child in children if child.status == "SUCCEEDED"]
            try:
                return self._roll_back(record if stacked else None, children, reason, tracking_id, given.metadata)
            except AlreadyRolledBack as done:
                raise InvalidRollback(
                    "Already rolled back", key="already_rolled_back", details=done.redemption_id
                ) from done
            except (VoucherChanged, Contention):
                continue
        raise _busy()

    def _roll_back(
        self,
        parent: Redemption | None,
        children: list[Redemption],
        reason: str | None,
        tracking_id: str | None,
        metadata: dict[str, Any] | None,
    ) -> dict[str, Any]:
        now = self.clock()
        codes = [str((child.voucher or {}).get("code")) for child in children if child.voucher]
        stored = self.store.vouchers(codes)
        parent_rollback_id = stable_id("rr_", "parent", parent.id) if parent is not None else None
        records: list[RedemptionRollback] = []
        changes: list[VoucherChange] = []
        events, activities, restored = [], [], []
        for child in children:
            code = str((child.voucher or {}).get("code"))
            before = stored.get(code)
            record, after = rollbacks.roll_back(
                child,
                before.voucher if before else None,
                now=now,
                reason=reason,
                tracking_id=tracking_id,
                metadata=metadata,
                parent_rollback_id=parent_rollback_id,
            )
            records.append(record)
            if before is not None and after is not None:
                changes.append(VoucherChange(before=before, after=after))
                restored.append((after, child.amount or 0))
            events.append(rollbacks.succeeded_event(record, child, after, now))
            ref = rollbacks.customer_ref(child)
            activities.append(rollbacks.activity(record, ref, now) if ref is not None else None)
        customer_id = (parent or children[0]).customer_id if (parent or children) else None
        parent_record = None
        answer: dict[str, Any]
        if parent is not None:
            if not records:
                raise InvalidRollback("Already rolled back", key="already_rolled_back", details=parent.id)
            parent_record = rollbacks.parent_rollback(parent, records, now=now, reason=reason, tracking_id=tracking_id)
            answer = rollbacks.stacked_answer(parent_record, records)
        else:
            answer = records[0].as_voucherify()
        self.store.commit_rollback(
            RollbackCommit(
                redemptions=tuple(children),
                records=tuple(records),
                changes=tuple(changes),
                events=tuple(events),
                activities=tuple(activities),
                summary=summary.for_rollbacks(customer_id, restored),
                customer_id=customer_id,
                parent=parent,
                parent_record=parent_record,
                answer=answer,
                now=now,
            )
        )
        return answer

    # -- reads ----------------------------------------------------------------------------------------------------
    def get_redemption(self, redemption_id: str) -> dict[str, Any]:
        found = self.store.redemption(redemption_id)
        if found is None:
            raise NotFound(
                f"Resource not found: redemption {redemption_id}",
                details=redemption_id,
                extra={"resource_id": redemption_id, "resource_type": "redemption"},
            )
        return found[1].as_voucherify()

    def voucher_redemptions(self, code: str, voucher: StoredVoucher, limit: int) -> dict[str, Any]:
        entries = self.store.voucher_entries(code, limit)
        return {
            "object": "list",
            "data_ref": "redemption_entries",
            "total": len(entries),
            "quantity": voucher.voucher.redemption_quantity,
            "redeemed_quantity": voucher.voucher.redeemed_quantity,
            "redeemed_amount": voucher.voucher.redeemed_amount,
            "url": f"/v1/vouchers/{quote(code, safe='')}/redemptions",
            "redemption_entries": entries,
        }

    def customer_redemptions(self, id_or_source_id: str, limit: int) -> dict[str, Any]:
        customer_id = id_or_source_id if id_or_source_id.startswith("cust_") else customer_id_for(id_or_source_id)
        entries = self.store.customer_entries(customer_id, limit)
        return {"object": "list", "data_ref": "redemptions", "redemptions": entries, "total": len(entries)}


def _idempotent_id(request: StackableRequest) -> str | None:
    order = request.order
    if order is not None and order.source_id:
        return stable_id("r_", "order", order.source_id)
    if order is not None and order.id:
        return stable_id("r_", "order_id", order.id)
    if request.session is not None and request.session.key:
        return stable_id("r_", "session", request.session.key)
    return None


def _order_id(request: StackableRequest) -> str | None:
    order = request.order
    if order is None:
        return None
    if order.id:
        return order.id
    return stable_id("ord_", order.source_id) if order.source_id else None


def _redeemed_ids(plan: RedemptionPlan) -> list[str]:
    return [outcome.candidate.request.id for outcome in plan.stack.applicable]


def _with_voucher(state: CheckoutState, changed: VoucherChanged) -> CheckoutState:
    """The state with one voucher replaced by what the refused write found (gone: not found)."""
    vouchers = dict(state.vouchers)
    for requested, stored in state.vouchers.items():
        if stored.code == changed.code:
            if changed.current is None:
                del vouchers[requested]
            else:
                vouchers[requested] = changed.current
    return replace(state, vouchers=vouchers)
