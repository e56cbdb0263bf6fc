"""Loyalty programs, member accounts, the ledger and referrals in the table (docs/loyalty.md has the layout).

Items:
- program ``LPROG#<camp id>`` / ``LPROG`` (rules, tiers and rewards inside; listed in gsi2 ``LPROGRAMS``), its
  name claim ``LPROGNAME#<name>`` / ``LPROGNAME``, and its daily-work state ``LPROG#<camp id>`` / ``SWEEP``;
- the member ``CUST#<cust id>`` / ``LOYALTY#<camp id>``: the whole account (``account``, JSON), optimistic
  ``version``, the customer-visible attributes (``points``, ``tier_id`` ...), listed in gsi1
  ``LMEMBER#<v_ id>``, gsi2 ``LMEMBERS#<camp id>#<shard>`` and, while something is due, gsi3
  ``LDUE#<camp id>#<shard>`` / ``<local date>#<cust id>``;
- code lookups ``LCARD#<code>`` and ``LREFCODE#<code>``;
- ledger entries ``CUST#<cust id>`` / ``LTXN#<camp id>#<key>`` (the key is the idempotency key, so the
  conditional put is the replay guard), listed per member in gsi2 ``LTXN#<camp id>#<cust id>`` by the
  time-ordered transaction id and as customer activities in gsi1; notices ``LNOTE#<camp id>#<key>`` alike;
- the friend's referral ``CUST#<cust id>`` / ``LREF#<camp id>``.
Entries and notices carry their events in ``outbox``: they are new items, so the relay publishes each once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date
from typing import Any

from perkflow.adapters import outbox
from perkflow.adapters.customers import activity_attributes
from perkflow.adapters.dynamo import (
    GSI1,
    GSI2,
    GSI3,
    Action,
    ConditionFailed,
    Delete,
    Item,
    Put,
    Table,
    TransactionCancelled,
    Update,
)
from perkflow.domain.events import OutboxEntry
from perkflow.domain.loyalty.engine import Notice
from perkflow.domain.loyalty.ledger import Account, LedgerEntry
from perkflow.domain.loyalty.program import LoyaltyProgram
from perkflow.domain.loyalty.referrals import Referral
from perkflow.domain.loyalty.storage import (
    AccountWrite,
    AlreadyReferred,
    CodeTaken,
    ProgramConflict,
    ReferralWrite,
    Replayed,
    StaleAccount,
)
from perkflow.domain.timeutil import iso

SHARDS = 16
PROGRAMS = "LPROGRAMS"
MAX_ACTIONS = 100


def shard(customer_id: str) -> int:
    return int(hashlib.sha256(customer_id.encode()).hexdigest()[:8], 16) % SHARDS


def program_key(program_id: str) -> dict[str, str]:
    return {"pk": f"LPROG#{program_id}", "sk": "LPROG"}


def name_key(name: str) -> dict[str, str]:
    return {"pk": f"LPROGNAME#{name.strip().lower()}", "sk": "LPROGNAME"}


def sweep_key(program_id: str) -> dict[str, str]:
    return {"pk": f"LPROG#{program_id}", "sk": "SWEEP"}


def member_key(program_id: str, customer_id: str) -> dict[str, str]:
    return {"pk": f"CUST#{customer_id}", "sk": f"LOYALTY#{program_id}"}


def card_key(code: str) -> dict[str, str]:
    return {"pk": f"LCARD#{code}", "sk": "LCARD"}


def referral_code_key(code: str) -> dict[str, str]:
    return {"pk": f"LREFCODE#{code}", "sk": "LREFCODE"}


def entry_key(program_id: str, customer_id: str, key: str) -> dict[str, str]:
    return {"pk": f"CUST#{customer_id}", "sk": f"LTXN#{program_id}#{key}"}


def notice_key(program_id: str, customer_id: str, key: str) -> dict[str, str]:
    return {"pk": f"CUST#{customer_id}", "sk": f"LNOTE#{program_id}#{key}"}


def referral_key(program_id: str, friend_id: str) -> dict[str, str]:
    return {"pk": f"CUST#{friend_id}", "sk": f"LREF#{program_id}"}


def _dump(model: Any) -> str:
    return str(model.model_dump_json())


class LoyaltyStore:
    def __init__(self, table: Table, source: str) -> None:
        self.table = table
        self.source = source

    # -- programs -------------------------------------------------------------------------------------------------
    def program(self, id_or_name: str, *, consistent: bool = False) -> LoyaltyProgram | None:
        item = self.table.get(program_key(id_or_name), consistent=consistent)
        if item is None and not id_or_name.startswith("camp_"):
            claim = self.table.get(name_key(id_or_name))
            if claim is not None:
                item = self.table.get(program_key(claim["program_id"]), consistent=consistent)
        return LoyaltyProgram.model_validate_json(item["program"]) if item else None

    def programs(self) -> list[LoyaltyProgram]:
        items = self.table.query_all("gsi2pk = :pk", {":pk": PROGRAMS}, index=GSI2)
        return [LoyaltyProgram.model_validate_json(item["program"]) for item in items]

    def save_program(self, program: LoyaltyProgram, before: LoyaltyProgram | None) -> None:
        """Create (``before`` None) or replace the program, conditionally on the version read. Raises
        ProgramConflict when the name is taken or the program changed meanwhile."""
        item: Item = {
            **program_key(program.id),
            "program": _dump(program),
            "name": program.name,
            "version": program.version,
            "gsi2pk": PROGRAMS,
            "gsi2sk": f"{iso(program.created_at)}#{program.id}",
        }
        actions: list[Action] = []
        if before is None:
            actions.append(Put(item=item, condition="attribute_not_exists(pk)"))
        else:
            actions.append(Put(item=item, condition="version = :v", values={":v": before.version}))
        if before is None or before.name.strip().lower() != program.name.strip().lower():
            claim = {**name_key(program.name), "program_id": program.id}
            actions.append(Put(item=claim, condition="attribute_not_exists(pk)"))
            if before is not None:
                actions.append(Delete(key=name_key(before.name)))
        try:
            self.table.transact(actions)
        except TransactionCancelled as cancelled:
            raise ProgramConflict(name_taken=1 in cancelled.failed_at()) from cancelled

    def delete_program(self, program: LoyaltyProgram) -> None:
        self.table.transact([Delete(key=program_key(program.id)), Delete(key=name_key(program.name))])

    def swept_on(self, program_id: str) -> str | None:
        item = self.table.get(sweep_key(program_id), consistent=True)
        return str(item["swept_on"]) if item and item.get("swept_on") else None

    def mark_swept(self, program_id: str, day: date) -> bool:
        """Record that ``day``'s work is done (False: it was recorded before)."""
        try:
            self.table.update(
                sweep_key(program_id),
                "SET swept_on = :day",
                condition="attribute_not_exists(swept_on) OR swept_on < :day",
                values={":day": day.isoformat()},
            )
        except ConditionFailed:
            return False
        return True

    # -- members -------------------------------------------------------------------------------------------------
    def account(self, program_id: str, customer_id: str, *, consistent: bool = True) -> Account | None:
        item = self.table.get(member_key(program_id, customer_id), consistent=consistent)
        return _account(item) if item else None

    def accounts_of_customer(self, customer_id: str) -> list[Account]:
        items = self.table.query_all(
            "pk = :pk AND begins_with(sk, :prefix)", {":pk": f"CUST#{customer_id}", ":prefix": "LOYALTY#"}
        )
        return [_account(item) for item in items]

    def owner_of_card(self, code: str) -> tuple[str, str] | None:
        item = self.table.get(card_key(code))
        return (item["program_id"], item["customer_id"]) if item else None

    def owner_of_member_id(self, member_id: str) -> tuple[str, str] | None:
        page = self.table.query("gsi1pk = :pk", {":pk": f"LMEMBER#{member_id}"}, index=GSI1, limit=1)
        if not page.items:
            return None
        item = page.items[0]
        return item["program_id"], item["customer_id"]

    def owner_of_referral_code(self, code: str) -> tuple[str, str] | None:
        item = self.table.get(referral_code_key(code))
        return (item["program_id"], item["customer_id"]) if item else None

    def members(self, program_id: str, *, limit: int, skip: int) -> tuple[list[Account], bool]:
        found: list[Account] = []
        to_skip = skip
        for index in range(SHARDS):
            for item in self.table.query_all("gsi2pk = :pk", {":pk": f"LMEMBERS#{program_id}#{index:02d}"}, index=GSI2):
                if to_skip:
                    to_skip -= 1
                    continue
                if len(found) == limit:
                    return found, True
                found.append(_account(item))
        return found, False

    def due_page(
        self, program_id: str, shard_index: int, today: date, limit: int, start: dict[str, str] | None
    ) -> tuple[list[Account], dict[str, str] | None]:
        """Members of one shard due on or before ``today`` (oldest due first), and where the next page starts."""
        page = self.table.query(
            "gsi3pk = :pk AND gsi3sk <= :until",
            {":pk": f"LDUE#{program_id}#{shard_index:02d}", ":until": f"{today.isoformat()}#~"},
            index=GSI3,
            limit=limit,
            start=start,
        )
        return [_account(item) for item in page.items], page.next_key

    # -- the ledger ------------------------------------------------------------------------------------------------
    def entry(self, program_id: str, customer_id: str, key: str) -> LedgerEntry | None:
        item = self.table.get(entry_key(program_id, customer_id, key), consistent=True)
        return LedgerEntry.model_validate_json(item["entry"]) if item else None

    def entries(
        self, program_id: str, customer_id: str, *, limit: int, after_id: str | None = None
    ) -> tuple[list[LedgerEntry], bool]:
        """Newest first; ``after_id``: the page after that transaction id."""
        condition = "gsi2pk = :pk"
        values: dict[str, Any] = {":pk": f"LTXN#{program_id}#{customer_id}"}
        if after_id:
            condition += " AND gsi2sk < :after"
            values[":after"] = after_id
        page = self.table.query(condition, values, index=GSI2, limit=limit + 1, forward=False)
        entries = [LedgerEntry.model_validate_json(item["entry"]) for item in page.items]
        return entries[:limit], len(entries) > limit

    def notice(self, program_id: str, customer_id: str, key: str) -> Notice | None:
        item = self.table.get(notice_key(program_id, customer_id, key), consistent=True)
        return Notice.model_validate_json(item["notice"]) if item else None

    def referral(self, program_id: str, friend_id: str) -> Referral | None:
        item = self.table.get(referral_key(program_id, friend_id), consistent=True)
        return Referral.model_validate_json(item["referral"]) if item else None

    # -- writing -------------------------------------------------------------------------------------------------
    def commit(self, writes: Sequence[AccountWrite], referral: ReferralWrite | None = None) -> None:
        """Every write (and the referral record) in one transaction; raises Replayed, StaleAccount,
        CodeTaken or AlreadyReferred when the table refuses."""
        actions: list[Action] = []
        kinds: list[str] = []
        for write in writes:
            for kind, action in self._actions(write):
                kinds.append(kind)
                actions.append(action)
        if referral is not None:
            kinds.append("referral")
            actions.append(_referral_action(referral))
        if len(actions) > MAX_ACTIONS:
            raise ValueError(f"a loyalty change of {len(actions)} writes does not fit one transaction")
        try:
            self.table.transact(actions)
        except TransactionCancelled as cancelled:
            failed = {kinds[index] for index in cancelled.failed_at()}
            if failed & {"entry", "notice"}:
                raise Replayed() from cancelled
            if "referral" in failed:
                raise AlreadyReferred() from cancelled
            if "code" in failed:
                raise CodeTaken() from cancelled
            raise StaleAccount() from cancelled  # a version clash, or a conflicting transaction

    def _actions(self, write: AccountWrite) -> list[tuple[str, Action]]:
        change = write.change
        account = change.account
        program_id, customer_id = account.program_id, account.customer_id
        before = change.before
        stored = account.model_copy(update={"version": (before.version if before else 0) + 1})
        item: Item = {
            **member_key(program_id, customer_id),
            "account": _dump(stored),
            "version": stored.version,
            "program_id": program_id,
            "customer_id": customer_id,
            "member_id": account.member_id,
            "code": account.code,
            **write.profile,
            "gsi1pk": f"LMEMBER#{account.member_id}",
            "gsi1sk": "LMEMBER",
            "gsi2pk": f"LMEMBERS#{program_id}#{shard(customer_id):02d}",
            "gsi2sk": customer_id,
        }
        if write.due is not None:
            item["gsi3pk"] = f"LDUE#{program_id}#{shard(customer_id):02d}"
            item["gsi3sk"] = f"{write.due.isoformat()}#{customer_id}"
        actions: list[tuple[str, Action]] = []
        if before is None:
            actions.append(("member", Put(item=item, condition="attribute_not_exists(pk)")))
            owner = {"program_id": program_id, "customer_id": customer_id, "member_id": account.member_id}
            actions.append(
                ("code", Put(item={**card_key(account.code), **owner}, condition="attribute_not_exists(pk)"))
            )
        else:
            # The version pins the balance the change was decided on; the balance condition states the invariant
            # itself: a debit is stored only against a balance that covers it.
            debit = max(0, before.balance - account.balance)
            condition = "version = :v AND (attribute_not_exists(points) OR points >= :debit)"
            actions.append(
                ("member", Put(item=item, condition=condition, values={":v": before.version, ":debit": debit}))
            )
        if account.referral_code and (before is None or before.referral_code != account.referral_code):
            owner = {"program_id": program_id, "customer_id": customer_id}
            put = Put(item={**referral_code_key(account.referral_code), **owner}, condition="attribute_not_exists(pk)")
            actions.append(("code", put))
        for entry, announced in write.entries:
            entry_item: Item = {
                **entry_key(program_id, customer_id, entry.key),
                "entry": _dump(entry),
                "id": entry.id,
                "type": entry.type,
                "program_id": program_id,
                "customer_id": customer_id,
                "created_at": iso(entry.created_at),
                **activity_attributes(customer_id, announced.activity, announced.events),
                "gsi2pk": f"LTXN#{program_id}#{customer_id}",
                "gsi2sk": entry.id,
            }
            outbox.attach(entry_item, [OutboxEntry.of(self.source, event) for event in announced.events])
            actions.append(("entry", Put(item=entry_item, condition="attribute_not_exists(pk)")))
        for notice, announced in write.notices:
            notice_item: Item = {
                **notice_key(program_id, customer_id, notice.key),
                "notice": _dump(notice),
                "kind": notice.kind,
                "program_id": program_id,
                "customer_id": customer_id,
                "created_at": iso(notice.created_at),
                **activity_attributes(customer_id, announced.activity, announced.events),
            }
            outbox.attach(notice_item, [OutboxEntry.of(self.source, event) for event in announced.events])
            actions.append(("notice", Put(item=notice_item, condition="attribute_not_exists(pk)")))
        return actions


def _referral_action(write: ReferralWrite) -> Action:
    referral = write.referral
    key = referral_key(referral.program_id, referral.friend.id)
    if write.create:
        item: Item = {
            **key,
            "referral": _dump(referral),
            "advocate_id": referral.advocate.id,
            "code": referral.code,
        }
        return Put(item=item, condition="attribute_not_exists(pk)")
    return Update(
        key=key,
        expression="SET referral = :referral, completed_at = :at",
        condition="attribute_exists(pk) AND attribute_not_exists(completed_at)",
        values={":referral": _dump(referral), ":at": iso(referral.completed_at) if referral.completed_at else ""},
    )


def _account(item: Item) -> Account:
    return Account.model_validate_json(item["account"])
