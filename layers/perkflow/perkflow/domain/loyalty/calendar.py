"""Program-local calendar dates: a loyalty program lives in its own time zone.

Expiry dates, reminder days, pending activation, birthdays and tier periods are *local dates* of the program
(``YYYY-MM-DD`` strings in storage, so they sort and compare as text). An instant becomes a local date through
the program's IANA zone; "points expire on E" means they are still usable through the local day E and are gone
when E + 1 starts (:func:`start_of`).
"""

from __future__ import annotations

import calendar as _calendar
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Literal

NEVER = "never"  # the expiry key of points that do not expire (sorts after every ISO date)
Rounding = Literal["month", "quarter", "half_year", "year"]


@lru_cache(maxsize=64)
def zone(name: str) -> tzinfo:
    """The IANA zone ``name`` (ValueError if unknown). UTC needs no time zone database."""
    if name in ("UTC", "Etc/UTC", "Z"):
        return UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def local_date(moment: datetime, zone_name: str) -> date:
    return moment.astimezone(zone(zone_name)).date()


def start_of(day: date, zone_name: str) -> datetime:
    """The UTC instant the local ``day`` starts."""
    return datetime.combine(day, time(0), tzinfo=zone(zone_name)).astimezone(UTC)


def expiry_instant(expires_on: date, zone_name: str) -> datetime:
    """When points that expire on ``expires_on`` are gone: the start of the next local day."""
    return start_of(expires_on + timedelta(days=1), zone_name)


def text(day: date) -> str:
    return day.isoformat()


def parse_day(value: str) -> date:
    return date.fromisoformat(value)


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, clamped to the month's last day (Jan 31 + 1 -> Feb 28/29)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, _calendar.monthrange(year, month)[1]))


def round_up(day: date, rounding: Rounding | None) -> date:
    """The last day of ``day``'s month, quarter, half year or year (None: ``day`` itself)."""
    if rounding is None:
        return day
    months = {"month": 1, "quarter": 3, "half_year": 6, "year": 12}[rounding]
    last_month = ((day.month - 1) // months + 1) * months
    return date(day.year, last_month, _calendar.monthrange(day.year, last_month)[1])


def anniversary(month: int, day: int, year: int) -> date:
    """``month``/``day`` in ``year``; 29 February is the 28th in a common year."""
    if month == 2 and day == 29 and not _calendar.isleap(year):
        return date(year, 2, 28)
    return date(year, month, day)
