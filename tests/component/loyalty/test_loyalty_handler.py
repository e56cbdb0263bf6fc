"""The loyalty handler on every trigger's sample (events/loyalty/*.json): earning, reversal, segment entries,
sign-up, profile changes, the hourly schedule and its continuation; replays change nothing."""

from __future__ import annotations

import json

from perkflow.domain.customers import customer_id_for
from tests.component.loyalty.conftest import MICHAEL, ORDER_RULE, Loyalty
from tests.support import sample_event


def _setup(loyalty: Loyalty, **perkflow: object) -> dict[str, object]:
    club = loyalty.program(dict(perkflow))
    loyalty.ok(
        "POST",
        f"/v1/loyalties/{club['id']}/earning-rules",
        [
            ORDER_RULE,
            {"event": "review_left", "loyalty": {"type": "FIXED", "points": 25}},
            {"event": "customer.segment.entered", "segment": {"id": "seg_reviewers_sample_000001"},
             "loyalty": {"type": "FIXED", "points": 10}},
        ],
    )  # fmt: skip
    return club


def test_order_completed_sample_earns_once_and_announces_it(loyalty: Loyalty) -> None:
    club = _setup(loyalty)
    loyalty.customer(MICHAEL, email="michael@dundermifflin.com", name="Michael Scott")
    loyalty.bus()

    assert loyalty.sample("order_completed") == {"batchItemFailures": []}
    assert loyalty.sample("order_completed") == {"batchItemFailures": []}  # SQS redelivers: nothing twice

    assert loyalty.balance(str(club["id"]), MICHAEL) == 50  # (54.99 - 4.99) * 1 per currency unit
    earned = loyalty.bus("loyalty.points.earned")
    assert len(earned) == 1
    detail = earned[0]["detail"]
    assert earned[0]["source"] == "perkflow.loyalty"
    assert (detail["points"], detail["balance"], detail["source"]) == (50, 50, "order")
    assert detail["order"]["id"] == "ORD-1001"
    assert detail["customer"]["email"] == "michael@dundermifflin.com"
    activity = loyalty.ok("GET", f"/v1/customers/{MICHAEL}/activity")
    assert "customer.rewarded.loyalty_points" in [item["type"] for item in activity["data"]]


def test_order_refunded_sample_reverses_the_order(loyalty: Loyalty) -> None:
    club = _setup(loyalty)
    loyalty.sample("order_completed")
    assert loyalty.sample("order_refunded") == {"batchItemFailures": []}
    assert loyalty.sample("order_refunded") == {"batchItemFailures": []}
    assert loyalty.balance(str(club["id"]), MICHAEL) == 0
    transactions = loyalty.ok("GET", f"/v1/loyalties/{club['id']}/members/{MICHAEL}/transactions")
    assert [item["type"] for item in transactions["data"]] == ["POINTS_REMOVAL", "POINTS_ACCRUAL"]
    removal = transactions["data"][0]
    assert removal["details"]["balance"]["points"] == -50
    reversal = loyalty.bus("loyalty.points.earned")[-1]["detail"]
    assert (reversal["points"], reversal["balance"], reversal["source"]) == (-50, 0, "adjustment")


def test_custom_event_and_segment_samples_earn_their_fixed_points(loyalty: Loyalty) -> None:
    club = _setup(loyalty)
    for _ in range(2):
        assert loyalty.sample("custom_event") == {"batchItemFailures": []}
        assert loyalty.sample("segment_entered") == {"batchItemFailures": []}
    assert loyalty.balance(str(club["id"]), MICHAEL) == 35
    sources = sorted(event["detail"]["source"] for event in loyalty.bus("loyalty.points.earned"))
    assert sources == ["event", "segment"]


def test_customer_created_sample_joins_with_sign_up_points_and_birthdate(loyalty: Loyalty) -> None:
    club = _setup(loyalty)
    loyalty.ok(
        "POST",
        f"/v1/loyalties/{club['id']}/earning-rules",
        [{"event": "customer.created", "loyalty": {"type": "FIXED", "points": 100}}],
    )
    assert loyalty.sample("customer_created") == {"batchItemFailures": []}
    assert loyalty.sample("customer_created") == {"batchItemFailures": []}
    card = loyalty.member(str(club["id"]), "jim.halpert")
    assert card["loyalty_card"]["balance"] == 100
    assert card["holder_id"] == customer_id_for("jim.halpert")


def test_customer_updated_sample_keeps_the_birthdate_for_birthday_rewards(loyalty: Loyalty) -> None:
    club = _setup(loyalty, birthday={"days_before": 0})
    loyalty.ok(
        "POST",
        f"/v1/loyalties/{club['id']}/earning-rules",
        [{"event": "customer.birthday", "loyalty": {"type": "FIXED", "points": 200}}],
    )
    loyalty.sample("order_completed")  # Michael joins (no birthdate known yet)
    assert loyalty.sample("customer_updated") == {"batchItemFailures": []}  # birthdate 1964-03-15
    assert loyalty.hourly("2027-03-14T12:00:00Z")["programs"][0]["members"] == 0
    report = loyalty.hourly("2027-03-15T00:30:00Z")["programs"][0]
    assert (report["members"], report["complete"]) == (1, True)
    assert loyalty.balance(str(club["id"]), MICHAEL) == 250
    assert loyalty.hourly("2027-03-15T05:30:00Z")["programs"][0]["skipped"] == "done today"
    issued = loyalty.bus("loyalty.reward.issued")
    assert [event["detail"]["reason"] for event in issued] == ["birthday"]


def test_hourly_sample_runs_each_program_once_per_local_day(loyalty: Loyalty) -> None:
    _setup(loyalty)
    first = loyalty.sample("hourly")
    again = loyalty.sample("hourly")
    assert first["programs"][0]["complete"] is True
    assert first["programs"][0]["skipped"] is None
    assert again["programs"][0]["skipped"] == "done today"


def test_sweep_continuation_sample_for_an_unknown_program_is_harmless(loyalty: Loyalty) -> None:
    assert loyalty.sample("sweep_continuation") == {"batchItemFailures": []}


def test_a_record_the_function_does_not_consume_fails_alone(loyalty: Loyalty) -> None:
    _setup(loyalty)
    good = loyalty.envelope("custom_event")
    bad = {**good, "detail-type": "customer.segment.left"}
    result = loyalty.deliver(bad, good)
    assert result == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}


def test_a_malformed_detail_fails_its_record_and_writes_nothing(loyalty: Loyalty) -> None:
    club = _setup(loyalty)
    envelope = json.loads(sample_event("loyalty/order_completed")["Records"][0]["body"])
    del envelope["detail"]["customer"]
    assert loyalty.deliver(envelope) == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
    assert loyalty.call("GET", f"/v1/loyalties/{club['id']}/members/{MICHAEL}").status == 404
