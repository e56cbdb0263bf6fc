"""Vouchers: read by code or id, create (given or random code, standalone or in a campaign), enable/disable,
gift balance changes with their ledger, the ledger, and releasing a LOCK session."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from perkflow.domain.errors import Conflict, NotFound
from perkflow.domain.events import CustomerRef, VoucherGiftBalanceAdded
from perkflow.domain.ids import new_id, stable_id
from perkflow.domain.promotions import summary
from perkflow.domain.promotions.codes import generate
from perkflow.domain.promotions.common import parse, voucherify_list
from perkflow.domain.promotions.errors import InvalidBalance, InvalidVoucher
from perkflow.domain.promotions.state import (
    Assignment,
    BalanceTransaction,
    CodesTaken,
    Replayed,
    StoredVoucher,
    VoucherChange,
    VoucherChanged,
)
from perkflow.domain.promotions.vouchers import BalanceRequest, Voucher, VoucherCreateRequest, change_balance
from perkflow.domain.timeutil import parse_iso
from perkflow.services.promotions.campaigns import campaign_not_found
from perkflow.services.promotions.ports import CatalogStore, CheckoutStore, VoucherStore

CODE_ATTEMPTS = 5
BALANCE_ATTEMPTS = 20


def voucher_not_found(code: str) -> NotFound:
    return NotFound(
        f"Resource not found: voucher {code}", details=code, extra={"resource_id": code, "resource_type": "voucher"}
    )


class VoucherService:
    def __init__(
        self,
        store: VoucherStore,
        catalog: CatalogStore,
        checkout: CheckoutStore,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.checkout = checkout
        self.clock = clock

    def stored(self, code_or_id: str) -> StoredVoucher:
        stored = self.store.get(code_or_id)
        if stored is None:
            raise voucher_not_found(code_or_id)
        return stored

    def get(self, code_or_id: str) -> dict[str, Any]:
        stored = self.stored(code_or_id)
        assignments = [assignment.as_voucherify() for assignment in self.catalog.assignments_of(stored.voucher.id)]
        return stored.voucher.as_voucherify(assignments)

    # -- create -------------------------------------------------------------------------------------------------
    def create(self, code: str | None, body: Any) -> dict[str, Any]:
        """``POST /v1/vouchers/{code}`` (``code``) or ``POST /v1/vouchers[/]`` (a code from ``code_config``)."""
        data = dict(body or {}) if isinstance(body, dict) else body
        if not isinstance(data, dict):
            raise InvalidVoucher("Body must be a voucher object")
        if code is not None:
            data["code"] = code
        campaign_key = data.get("campaign_id") or data.get("campaign")
        if campaign_key:
            return self.add_to_campaign(str(campaign_key), data.get("code"), data)
        request = parse(VoucherCreateRequest, data, InvalidVoucher, "Invalid voucher")
        for _ in range(CODE_ATTEMPTS):
            now = self.clock()
            voucher = Voucher.create(request, now)
            try:
                return self._store(voucher, request.validation_rules or [], now, given_code=request.code is not None)
            except CodesTaken:
                continue
        raise Conflict("Could not draw a free code; use a longer code_config", details="code_config")

    def add_to_campaign(self, campaign_key: str, code: str | None, body: dict[str, Any]) -> dict[str, Any]:
        """A code added to a campaign (``POST /v1/campaigns/{id}/vouchers[/{code}]``, or a voucher naming one)."""
        campaign = self.catalog.campaign(campaign_key)
        if campaign is None:
            raise campaign_not_found(campaign_key)
        for _ in range(CODE_ATTEMPTS):
            now = self.clock()
            chosen = code or generate(campaign.voucher.code_config, 1)[0]
            voucher = campaign.new_voucher(chosen, now)
            extra: dict[str, Any] = {}
            if isinstance(body.get("metadata"), dict):
                extra["metadata"] = body["metadata"]
            if body.get("additional_info") is not None:
                extra["additional_info"] = str(body["additional_info"])
            voucher = voucher.model_copy(update=extra)
            try:
                return self._store(voucher, body.get("validation_rules") or [], now, given_code=code is not None)
            except CodesTaken:
                continue
        raise Conflict("Could not draw a free code; use a longer code_config", details="code_config")

    def _store(self, voucher: Voucher, rule_ids: list[str], now: datetime, *, given_code: bool) -> dict[str, Any]:
        assignments = []
        for rule_id in dict.fromkeys(rule_ids):
            if self.catalog.rule(rule_id) is None:
                raise NotFound(
                    f"Resource not found: validation rules {rule_id}",
                    details=rule_id,
                    extra={"resource_id": rule_id, "resource_type": "validation_rules"},
                )
            assignments.append(
                Assignment(
                    id=new_id("asgm_"),
                    rule_id=rule_id,
                    related_object_id=voucher.id,
                    related_object_type="voucher",
                    created_at=now,
                )
            )
        try:
            self.store.create(voucher, assignments)
        except CodesTaken as taken:
            if given_code:
                raise Conflict(
                    f"Duplicate resource key: voucher {voucher.code}",
                    key="duplicate_found",
                    details=voucher.code,
                    extra={"resource_id": voucher.code, "resource_type": "voucher"},
                ) from taken
            raise
        return voucher.model_copy(update={"validation_rules": tuple(a.rule_id for a in assignments)}).as_voucherify(
            [assignment.as_voucherify() for assignment in assignments]
        )

    # -- state --------------------------------------------------------------------------------------------------
    def set_active(self, code_or_id: str, active: bool) -> dict[str, Any]:
        stored = self.stored(code_or_id)
        if not self.store.set_active(stored.voucher.code, active, self.clock()):
            raise voucher_not_found(code_or_id)
        return self.get(stored.voucher.code)

    def release_session(self, code: str, key: str) -> None:
        stored = self.stored(code)
        if not self.store.release_session(stored.voucher.code, key, self.clock()):
            raise NotFound(
                f"Resource not found: session {key}",
                details=key,
                extra={"resource_id": key, "resource_type": "session"},
            )

    # -- gift balance -------------------------------------------------------------------------------------------
    def change_balance(self, code_or_id: str, body: Any) -> dict[str, Any]:
        request = parse(BalanceRequest, body, InvalidBalance, "Invalid balance parameters")
        stored = self.stored(code_or_id)
        code = stored.voucher.code
        if request.source_id:
            transaction_id = stable_id("vtx_", code, request.source_id)
            earlier = self.store.transaction_answer(code, transaction_id)
            if earlier is not None:
                return earlier
        else:
            transaction_id = new_id("vtx_")
        for _ in range(BALANCE_ATTEMPTS):
            now = self.clock()
            change = change_balance(stored.voucher, request, now)
            gift = change.voucher.gift
            assert gift is not None
            transaction = BalanceTransaction(
                id=transaction_id,
                voucher_id=stored.voucher.id,
                campaign_id=stored.voucher.campaign_id,
                source_id=request.source_id,
                reason=request.reason,
                amount=request.amount,
                total=gift.amount,
                balance=gift.balance,
                created_at=now,
                type="CREDITS_ADDITION" if request.amount > 0 else "CREDITS_REMOVAL",
            )
            answer = change.as_voucherify()
            events = []
            if request.amount > 0:
                holder = stored.voucher.holder_id
                events.append(
                    VoucherGiftBalanceAdded(
                        event_id=stable_id("evt_", transaction_id, VoucherGiftBalanceAdded.DETAIL_TYPE),
                        occurred_at=now,
                        customer=CustomerRef(id=holder) if holder else None,
                        voucher=change.voucher.ref(),
                        amount=request.amount,
                        balance=gift.balance,
                        transaction_id=transaction_id,
                    )
                )
            try:
                self.store.change_balance(
                    VoucherChange(before=stored, after=change.voucher),
                    transaction,
                    answer,
                    events,
                    summary.for_balance(stored.voucher, request.amount),
                )
            except Replayed as replayed:
                return replayed.answer
            except VoucherChanged as changed:
                if changed.current is None:
                    raise voucher_not_found(code_or_id) from changed
                stored = changed.current
                continue
            return answer
        raise Conflict("The balance kept changing; try again", key="multiple_requests", details=code)

    def transactions(self, code_or_id: str, limit: int) -> dict[str, Any]:
        """The gift card's ledger, newest first: balance changes, redemptions and their rollbacks."""
        stored = self.stored(code_or_id)
        voucher = stored.voucher
        ledger = list(self.store.transactions(voucher.code))
        for entry in self.checkout.voucher_entries(voucher.code, limit=1000):
            moved = _ledger_entry(entry, voucher)
            if moved is not None:
                ledger.append(moved)
        ledger.sort(key=lambda transaction: transaction.created_at, reverse=True)
        body = voucherify_list([transaction.as_voucherify() for transaction in ledger[:limit]])
        body["has_more"] = len(ledger) > limit
        del body["total"]
        return body


def _ledger_entry(entry: dict[str, Any], voucher: Voucher) -> BalanceTransaction | None:
    """A redemption (or its rollback) of a gift card as a ledger entry."""
    amount = entry.get("amount")
    if voucher.gift is None or not isinstance(amount, int) or entry.get("result") != "SUCCESS":
        return None
    gift = (entry.get("voucher") or {}).get("gift") or {}
    rollback = entry.get("object") == "redemption_rollback"
    return BalanceTransaction(
        id=stable_id("vtx_", entry["id"]),
        voucher_id=voucher.id,
        campaign_id=voucher.campaign_id,
        source_id=None,
        reason=entry.get("reason") if rollback else None,
        amount=-amount,  # a redemption's amount is what it spent, a rollback's (negative) what it gave back
        total=int(gift.get("amount", voucher.gift.amount)),
        balance=int(gift.get("balance", voucher.gift.balance)),
        created_at=parse_iso(entry["date"]),
        type="CREDITS_REFUND" if rollback else "CREDITS_REDEMPTION",
        related_redemption_id=entry.get("redemption") if rollback else entry["id"],
    )
