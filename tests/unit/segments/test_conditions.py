"""What paths, comparisons and time operators mean on loosely typed profile and event JSON."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from perkflow.domain.segments.conditions import (
    ABSENT,
    from_ms,
    holds,
    next_anniversary,
    resolve,
    to_ms,
    trait_holds,
    trait_next_flip,
    value_hash,
)
from perkflow.domain.segments.definition import TraitNode

PROFILE = {
    "email": "michael@dundermifflin.com",
    "address": {"city": "Scranton", "country": "US"},
    "metadata": {"plan": "gold", "visits": "12", "tags": ["vip", 7], "club.level": "Gold", "deep": {"x": {"y": 1}}},
    "loyalty": {"points": 1200, "tier_rank": 2},
    "nothing": None,
}


def test_paths_walk_nested_objects_and_find_dotted_keys() -> None:
    assert resolve(PROFILE, "address.city") == "Scranton"
    assert resolve(PROFILE, "metadata.deep.x.y") == 1
    assert resolve(PROFILE, "metadata.club.level") == "Gold"
    assert resolve(PROFILE, "loyalty.points") == 1200
    assert resolve(PROFILE, "metadata.missing") is ABSENT
    assert resolve(PROFILE, "email.domain") is ABSENT
    assert resolve(PROFILE, "nothing") is ABSENT


@pytest.mark.parametrize(
    ("op", "path", "value", "expected"),
    [
        ("eq", "metadata.plan", "gold", True),
        ("eq", "metadata.plan", "Gold", False),
        ("eq", "metadata.visits", 12, True),  # numeric string against a number
        ("eq", "metadata.visits", "12.0", False),  # two strings compare as strings
        ("ne", "metadata.plan", "silver", True),
        ("ne", "metadata.missing", "silver", True),  # absent is "not equal"
        ("in", "metadata.plan", ["silver", "gold"], True),
        ("not_in", "metadata.missing", ["gold"], True),
        ("gt", "metadata.visits", 9, True),  # numeric, not lexicographic ("12" < "9")
        ("gt", "metadata.visits", "9", True),
        ("lte", "loyalty.points", 1200, True),
        ("lt", "metadata.missing", 5, False),
        ("gt", "email", "m", True),
        ("exists", "address.country", None, True),
        ("not_exists", "nothing", None, True),
        ("contains", "email", "@dunder", True),
        ("contains", "metadata.tags", "vip", True),
        ("contains", "metadata.tags", 7, True),
        ("starts_with", "email", "michael", True),
        ("ends_with", "email", ".com", True),
        ("starts_with", "loyalty.points", "12", False),
        ("eq", "loyalty.tier_rank", True, False),  # booleans are never numbers
    ],
)
def test_value_operators(op: str, path: str, value: Any, expected: bool) -> None:
    assert holds(op, resolve(PROFILE, path), value) is expected


def test_timestamps_compare_as_instants_whatever_their_spelling() -> None:
    assert holds("eq", "2026-01-01T01:00:00+01:00", "2026-01-01T00:00:00.000Z")
    assert holds("gt", "2026-01-02", "2026-01-01T23:59:59Z")
    assert holds("lt", "2025-12-31T23:00:00-02:00", "2026-01-01T00:30:00Z") is False


def test_numbers_are_one_distinct_value_whatever_their_type() -> None:
    assert value_hash(1) == value_hash(1.0) == value_hash(100e-2)
    assert value_hash("1") != value_hash(1)  # a string property is not a number here
    assert value_hash("a") != value_hash("b")


def test_instants_are_whole_utc_milliseconds() -> None:
    moment = datetime(2026, 11, 24, 6, 30, 0, 999_999, tzinfo=UTC)
    assert from_ms(to_ms(moment)) == moment.replace(microsecond=999_000)
    with pytest.raises(ValueError, match="timezone-aware"):
        to_ms(datetime(2026, 1, 1))


def _ms(text: str) -> int:
    return to_ms(datetime.fromisoformat(text))


def test_within_last_and_before_last_flip_once_at_timestamp_plus_window() -> None:
    recent = TraitNode(path="created_at", op="within_last", seconds=30 * 86_400)
    older = TraitNode(path="created_at", op="before_last", seconds=30 * 86_400)
    profile = {"created_at": "2026-11-01T00:00:00.000Z"}
    boundary = _ms("2026-12-01T00:00:00+00:00")

    assert trait_holds(recent, profile, boundary - 1)
    assert not trait_holds(older, profile, boundary - 1)
    assert not trait_holds(recent, profile, boundary)
    assert trait_holds(older, profile, boundary)
    assert trait_next_flip(recent, profile, boundary - 1) == boundary
    assert trait_next_flip(older, profile, boundary) is None
    # Missing or unreadable timestamps satisfy neither and never flip.
    for bad in ({}, {"created_at": "soon"}):
        assert not trait_holds(recent, bad, boundary)
        assert not trait_holds(older, bad, boundary)
        assert trait_next_flip(recent, bad, boundary) is None


def test_leap_day_birthdays_fall_on_28_february_in_common_years() -> None:
    born = date(2000, 2, 29)
    assert next_anniversary(born, date(2027, 2, 1)) == date(2027, 2, 28)
    assert next_anniversary(born, date(2028, 2, 1)) == date(2028, 2, 29)
    assert next_anniversary(born, date(2027, 3, 1)) == date(2028, 2, 29)


def test_birthday_within_next_seven_days_across_the_year_end() -> None:
    soon = TraitNode(path="birthdate", op="anniversary_within_next", days=7)
    profile = {"birthdate": "1990-01-03"}

    assert not trait_holds(soon, profile, _ms("2026-12-26T23:59:59.999+00:00"))
    assert trait_next_flip(soon, profile, _ms("2026-12-20T12:00:00+00:00")) == _ms("2026-12-27T00:00:00+00:00")
    assert trait_holds(soon, profile, _ms("2026-12-27T00:00:00+00:00"))
    assert trait_holds(soon, profile, _ms("2027-01-03T23:59:59+00:00"))  # the birthday itself counts
    assert trait_next_flip(soon, profile, _ms("2027-01-01T00:00:00+00:00")) == _ms("2027-01-04T00:00:00+00:00")
    assert not trait_holds(soon, profile, _ms("2027-01-04T00:00:00+00:00"))
    # After leaving, the next entry is a year later.
    assert trait_next_flip(soon, profile, _ms("2027-01-04T00:00:00+00:00")) == _ms("2027-12-27T00:00:00+00:00")


def test_birthday_today_only_and_a_leap_day_birthday() -> None:
    today = TraitNode(path="birthdate", op="anniversary_within_next", days=0)
    leap = {"birthdate": "2000-02-29"}
    assert trait_holds(today, leap, _ms("2027-02-28T10:00:00+00:00"))
    assert not trait_holds(today, leap, _ms("2027-03-01T00:00:00+00:00"))
    assert trait_holds(today, leap, _ms("2028-02-29T00:00:00+00:00"))
    assert not trait_holds(today, leap, _ms("2028-02-28T00:00:00+00:00"))
    assert trait_next_flip(today, leap, _ms("2027-03-01T00:00:00+00:00")) == _ms("2028-02-29T00:00:00+00:00")


def test_a_window_of_a_whole_year_never_flips() -> None:
    always = TraitNode(path="birthdate", op="anniversary_within_next", days=365)
    for moment in ("2027-02-28T00:00:00+00:00", "2028-03-01T00:00:00+00:00"):
        assert trait_holds(always, {"birthdate": "2000-02-29"}, _ms(moment))
        assert trait_next_flip(always, {"birthdate": "2000-02-29"}, _ms(moment)) is None


def test_birthday_next_month_changes_on_the_first() -> None:
    next_month = TraitNode(path="birthdate", op="anniversary_next_month")
    profile = {"birthdate": "1985-01-17"}
    assert trait_holds(next_month, profile, _ms("2026-12-31T23:59:59+00:00"))
    assert trait_next_flip(next_month, profile, _ms("2026-12-15T00:00:00+00:00")) == _ms("2027-01-01T00:00:00+00:00")
    assert not trait_holds(next_month, profile, _ms("2027-01-01T00:00:00+00:00"))
    assert trait_next_flip(next_month, profile, _ms("2027-01-01T00:00:00+00:00")) == _ms("2027-12-01T00:00:00+00:00")
