"""Schedules (function events of Type Schedule and ScheduleV2): fired by a timer or on demand.

``POST /_local/schedules/<name>`` fires one now and answers what the function returned; ``<name>`` is the
event's logical name in kebab case (SegmentsSweep -> segments-sweep). Timers run on real time (rate(...)
every interval from start-up, cron(...) at its next UTC match) unless PERKFLOW_LOCAL_TIMERS=off; either
way the payload's ``time`` is the local clock's now, which is what the function compares against.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from perkflow_ops import template as tpl
from perkflow_ops.local.workers import Functions, Invocation

log = logging.getLogger(__name__)

_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}
_MONTHS = {
    name: index
    for index, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1
    )
}
_WEEKDAYS = {name: index for index, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}


def kebab(name: str) -> str:
    """``SegmentsSweep`` -> ``segments-sweep``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", name).lower()


class Cron:
    """An EventBridge cron expression: minutes hours day-of-month month day-of-week year (UTC)."""

    def __init__(self, expression: str) -> None:
        fields = expression.split()
        if len(fields) != 6:
            raise ValueError(f"cron({expression}) needs 6 fields")
        minutes, hours, days, months, weekdays, years = fields
        self.minutes = _field(minutes, 0, 59, {})
        self.hours = _field(hours, 0, 23, {})
        self.days = _field(days, 1, 31, {})
        self.months = _field(months, 1, 12, _MONTHS)
        self.weekdays = _field(weekdays, 1, 7, _WEEKDAYS)
        self.years = _field(years, 1970, 2199, {})

    def next_after(self, moment: datetime) -> datetime:
        start = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.replace(hour=0, minute=0)
        for _ in range(366 * 5):
            if self._day_matches(day):
                for hour in sorted(self.hours or range(24)):
                    for minute in sorted(self.minutes or range(60)):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate >= start:
                            return candidate
            day += timedelta(days=1)
        raise ValueError("the cron expression matches no time in the next five years")

    def _day_matches(self, day: datetime) -> bool:
        weekday = day.isoweekday() % 7 + 1  # EventBridge counts SUN=1 .. SAT=7
        return (
            (self.years is None or day.year in self.years)
            and (self.months is None or day.month in self.months)
            and (self.days is None or day.day in self.days)
            and (self.weekdays is None or weekday in self.weekdays)
        )


def _field(text: str, low: int, high: int, names: Mapping[str, int]) -> set[int] | None:
    """The values a field allows (None: any)."""
    if text in ("*", "?"):
        return None
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first_text, last_text = base.split("-", 1)
            first, last = _value(first_text, names), _value(last_text, names)
        else:
            first = _value(base, names)
            last = high if step_text else first
        if not low <= first <= last <= high:
            raise ValueError(f"cron field {text!r} is out of range {low}-{high}")
        values.update(range(first, last + 1, step))
    return values


def _value(text: str, names: Mapping[str, int]) -> int:
    if text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise ValueError(f"cron value {text!r} is not supported locally (L, W and # are not)")
    return int(text)


@dataclass
class Schedule:
    name: str  # kebab-case event name
    function: str
    expression: str
    enabled: bool
    rule_arn: str
    input: Any = None  # a constant payload from the template, instead of the Scheduled Event

    def next_after(self, moment: datetime, started: datetime) -> datetime:
        kind, _, argument = self.expression.partition("(")
        argument = argument.rstrip(")")
        if kind == "rate":
            value, unit = argument.split()
            interval = int(value) * _UNITS[unit]
            elapsed = (moment - started).total_seconds()
            return started + timedelta(seconds=(int(elapsed // interval) + 1) * interval)
        if kind == "cron":
            return Cron(argument).next_after(moment)
        raise ValueError(f"schedule {self.name}: {self.expression} is neither rate(...) nor cron(...)")


def schedules_from_template(template: Mapping[str, Any], context: tpl.Context) -> list[Schedule]:
    found = []
    for function in tpl.functions(template):
        for event in function.events:
            if event.type not in ("Schedule", "ScheduleV2"):
                continue
            props = context.resolve(event.properties)
            if event.type == "Schedule":
                expression = props["Schedule"]
                enabled = props.get("Enabled", True) is not False and props.get("State", "ENABLED") != "DISABLED"
            else:
                expression = props["ScheduleExpression"]
                enabled = props.get("State", "ENABLED") != "DISABLED"
            rule = f"{context.stack_name}-{function.logical_id}{event.name}"
            schedule = Schedule(
                name=kebab(event.name),
                function=function.logical_id,
                expression=str(expression),
                enabled=enabled,
                rule_arn=f"arn:aws:events:{context.region}:{context.account}:rule/{rule}",
                input=json.loads(props["Input"]) if "Input" in props else None,
            )
            schedule.next_after(datetime.now(UTC), datetime.now(UTC))  # an invalid expression fails at start
            found.append(schedule)
    return found


class Scheduler:
    def __init__(
        self, schedules: list[Schedule], functions: Functions, context: tpl.Context, now: Callable[[], datetime]
    ) -> None:
        self.schedules = {schedule.name: schedule for schedule in schedules}
        self.functions = functions
        self.context = context
        self.now = now  # the local clock
        self._stopped = threading.Event()

    def payload(self, schedule: Schedule) -> Any:
        if schedule.input is not None:
            return schedule.input
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.context.account,
            "time": self.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.context.region,
            "resources": [schedule.rule_arn],
            "detail": {},
        }

    def fire(self, name: str) -> Invocation | None:
        """Invoke the schedule's function now and wait for it (None: no schedule of that name)."""
        schedule = self.schedules.get(name)
        if schedule is None:
            return None
        return self.functions.invoke(schedule.function, self.payload(schedule))

    def start_timers(self) -> None:
        threading.Thread(target=self._run_timers, name="schedules", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()

    def _run_timers(self) -> None:
        started = datetime.now(UTC)
        due = {s.name: s.next_after(started, started) for s in self.schedules.values() if s.enabled}
        while due and not self._stopped.is_set():
            name = min(due, key=due.__getitem__)
            wait = (due[name] - datetime.now(UTC)).total_seconds()
            if wait > 0 and self._stopped.wait(min(wait, 60)):
                return
            if datetime.now(UTC) < due[name]:
                continue  # woke early to re-check; the wait is capped so a clock jump is noticed
            schedule = self.schedules[name]
            log.info("schedule %s fires", name)
            self.functions.invoke_async(schedule.function, self.payload(schedule), why=f"schedule {name}")
            due[name] = schedule.next_after(datetime.now(UTC), started)
