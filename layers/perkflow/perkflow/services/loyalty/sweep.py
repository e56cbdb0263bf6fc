"""The hourly schedule: each program's daily work, once per program-local day.

Every hour the ``loyalty`` function looks at each live program; a program whose local day has turned since its
last completed pass (``swept_on``) gets one: the members due today or earlier are read from the schedule index
(gsi3 ``LDUE#<program>#<shard>``, 16 shards, oldest due first, page by page: never a Scan, never the whole
program in memory), and each is advanced to today (:func:`perkflow.domain.loyalty.schedule.advance`), which
files it under its next due day. Only when every shard is done is the day recorded, so a pass cut short (the
function running out of time, a failing member) continues in a continuation message or the next hour; what
was done already is not repeated (each thing is keyed by the day it concerns).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from perkflow.domain.events import CustomerRef
from perkflow.domain.loyalty import schedule
from perkflow.domain.loyalty.program import LoyaltyProgram
from perkflow.services.loyalty.accounts import Accounts, Target
from perkflow.services.loyalty.ports import Continuations, LoyaltyStore

logger = logging.getLogger(__name__)
SHARDS = 16
PAGE = 50
MAX_PASSES = 5  # a member with more than one pass of work (a long catch-up) gets up to this many at once


@dataclass
class SweepReport:
    program_id: str
    day: str
    members: int = 0
    failed: list[str] = field(default_factory=list)
    complete: bool = False
    skipped: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "program_id": self.program_id,
            "day": self.day,
            "members": self.members,
            "failed": self.failed,
            "complete": self.complete,
            "skipped": self.skipped,
        }


class Sweeper:
    def __init__(
        self,
        store: LoyaltyStore,
        accounts: Accounts,
        continuations: Continuations,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.accounts = accounts
        self.continuations = continuations
        self.clock = clock

    def hourly(self, out_of_time: Callable[[], bool]) -> list[SweepReport]:
        now = self.clock()
        reports = []
        for program in self.store.programs():
            if not program.active:
                continue
            reports.append(self.run(program, out_of_time, now))
        return reports

    def continue_program(self, program_id: str, out_of_time: Callable[[], bool]) -> SweepReport | None:
        program = self.store.program(program_id, consistent=True)
        if program is None or not program.active:
            return None
        return self.run(program, out_of_time, self.clock())

    def run(self, program: LoyaltyProgram, out_of_time: Callable[[], bool], now: datetime) -> SweepReport:
        today = program.today(now)
        report = SweepReport(program_id=program.id, day=today.isoformat())
        swept = self.store.swept_on(program.id)
        if swept is not None and swept >= today.isoformat():
            report.skipped = "done today"
            report.complete = True
            return report
        processed: set[str] = set()
        for index in range(SHARDS):
            start: dict[str, str] | None = None
            while True:
                due, start = self.store.due_page(program.id, index, today, PAGE, start)
                for account in due:
                    if account.customer_id in processed:
                        continue
                    if out_of_time():
                        self.continuations.continue_sweep(program.id)
                        return report
                    processed.add(account.customer_id)
                    try:
                        self.advance(program, account.customer, today)
                        report.members += 1
                    except Exception:
                        logger.exception("daily loyalty work failed for %s; the next pass retries", account.customer_id)
                        report.failed.append(account.customer_id)
                if start is None:
                    break
        if not report.failed:
            self.store.mark_swept(program.id, today)
            report.complete = True
        return report

    def advance(self, program: LoyaltyProgram, customer: CustomerRef, today: date) -> None:
        for _ in range(MAX_PASSES):
            applied = self.accounts.apply(
                program,
                [
                    Target(
                        customer,
                        lambda account: schedule.advance(program, account, today, self.clock()),
                        join=False,
                    )
                ],
            )
            account = self.store.account(program.id, customer.id)
            if account is not None:
                for owed in list(account.unfulfilled):
                    self.accounts.fulfil(program, account.customer, owed)
            change = applied.change
            if change is None or len(change.entries) < schedule.MAX_ENTRIES_PER_DAY:
                return
