"""Referrals, expiry with reminders, tiers and birthdays end to end through the loyalty handler (bus events in,
the hourly schedule on a frozen clock, outbox events out)."""

from __future__ import annotations

from typing import Any

import pytest

from perkflow.domain.customers import customer_id_for
from tests.component.loyalty.conftest import MICHAEL, ORDER_RULE, Loyalty, discount_campaign

JIM = "jim.halpert"
DWIGHT = "dwight.schrute"


def created(loyalty: Loyalty, source_id: str, email: str, **profile: Any) -> None:
    envelope = loyalty.envelope("customer_created")
    detail = envelope["detail"]
    detail["event_id"] = f"evt_created_{source_id}"
    detail["customer"] = {"id": customer_id_for(source_id), "source_id": source_id, "email": email}
    detail["profile"] = {"email": email, "source_id": source_id, **profile}
    assert loyalty.deliver(envelope) == {"batchItemFailures": []}
    assert loyalty.deliver(envelope) == {"batchItemFailures": []}  # redelivered


def referral_program(loyalty: Loyalty) -> tuple[str, str]:
    campaign = loyalty.ok("POST", "/v1/campaigns", discount_campaign("Referral thanks"))
    club = loyalty.program(
        {
            "shop_domain": "dundermifflin.com",
            "referral": {"enabled": True, "friend": {"trigger": "signup", "points": 50}, "advocate": {"points": 100}},
        }
    )
    base = f"/v1/loyalties/{club['id']}"
    loyalty.ok("POST", f"{base}/earning-rules", [ORDER_RULE])
    reward = {"reward": {"name": "$5 thanks", "type": "CAMPAIGN", "parameters": {"campaign": {"id": campaign["id"]}}}}
    assignment = loyalty.ok("POST", f"{base}/rewards", [reward])
    referral = {
        "enabled": True,
        "friend": {"trigger": "signup", "points": 50},
        "advocate": {"points": 100, "reward_id": assignment["id"]},
    }
    loyalty.ok("PUT", base, {"perkflow": {"referral": referral}})
    card = loyalty.ok(
        "POST", f"{base}/members", {"customer": {"source_id": MICHAEL, "email": "michael@dundermifflin.com"}}
    )
    return str(club["id"]), str(card["perkflow"]["referral_code"])


def test_referral_happy_path_rewards_the_friend_on_sign_up_and_the_advocate_on_the_first_order(
    loyalty: Loyalty,
) -> None:
    program_id, code = referral_program(loyalty)
    loyalty.bus()
    created(loyalty, JIM, "jim@dundermifflin.com", metadata={"referral_code": code})
    assert loyalty.balance(program_id, JIM) == 50
    started = loyalty.bus("loyalty.referral.started")
    assert len(started) == 1
    detail = started[0]["detail"]
    assert detail["customer"]["source_id"] == JIM
    assert (detail["referral_code"], detail["referral_url"]) == (code, f"https://dundermifflin.com/r/{code}")
    assert detail["advocate"]["source_id"] == MICHAEL
    assert detail["points"] == 50

    for _ in range(2):
        loyalty.track(JIM, "Order Completed", {"order_id": "J1", "total": 20}, "m-j1")
    loyalty.track(JIM, "Order Completed", {"order_id": "J2", "total": 20}, "m-j2")  # a second order: no second reward
    assert loyalty.balance(program_id, MICHAEL) == 100
    assert loyalty.balance(program_id, JIM) == 90
    completed = loyalty.bus("loyalty.referral.completed")
    assert len(completed) == 1
    detail = completed[0]["detail"]
    assert detail["customer"]["source_id"] == MICHAEL
    assert detail["referee"]["source_id"] == JIM
    assert detail["points"] == 100
    assert detail["code"].startswith("SAVE5-")
    card = loyalty.member(program_id, MICHAEL)
    assert card["perkflow"]["referred_customers"] == 1


def test_the_friend_reward_can_wait_for_the_first_order(loyalty: Loyalty) -> None:
    club = loyalty.program(
        {"referral": {"enabled": True, "friend": {"trigger": "first_order", "points": 30}, "advocate": {"points": 10}}}
    )
    base = f"/v1/loyalties/{club['id']}"
    code = loyalty.ok("POST", f"{base}/members", {"customer": {"source_id": MICHAEL}})["perkflow"]["referral_code"]
    # The friend's first order carries the code (a referral link that lands on checkout).
    loyalty.track(JIM, "Order Completed", {"order_id": "J1", "total": 5, "referral": {"code": code}}, "m-j1")
    assert loyalty.balance(str(club["id"]), JIM) == 30
    assert loyalty.balance(str(club["id"]), MICHAEL) == 10
    assert len(loyalty.bus("loyalty.referral.started")) == 1
    assert len(loyalty.bus()) == 0


@pytest.mark.parametrize("fraud", ["self", "repeat", "not_new", "unknown"])
def test_self_referrals_repeats_existing_customers_and_unknown_codes_are_refused(loyalty: Loyalty, fraud: str) -> None:
    program_id, code = referral_program(loyalty)
    if fraud == "self":
        loyalty.track(MICHAEL, "signup", {"referral": {"code": code}}, "m-self")
        assert loyalty.balance(program_id, MICHAEL) == 0
    elif fraud == "repeat":
        created(loyalty, JIM, "jim@dundermifflin.com", metadata={"referral_code": code})
        dwight_code = loyalty.ok("POST", f"/v1/loyalties/{program_id}/members", {"customer": {"source_id": DWIGHT}})[
            "perkflow"
        ]["referral_code"]
        loyalty.track(JIM, "signup", {"referral_code": dwight_code}, "m-again")
        assert loyalty.balance(program_id, JIM) == 50  # the first referral only
        loyalty.track(JIM, "Order Completed", {"order_id": "J1", "total": 1}, "m-j1")
        assert loyalty.balance(program_id, DWIGHT) == 0
        assert loyalty.balance(program_id, MICHAEL) == 100
    elif fraud == "not_new":
        loyalty.track(JIM, "Order Completed", {"order_id": "J0", "total": 10}, "m-j0")
        loyalty.track(JIM, "signup", {"referral_code": code}, "m-late")
        loyalty.track(JIM, "Order Completed", {"order_id": "J1", "total": 10}, "m-j1")
        assert loyalty.balance(program_id, JIM) == 20
        assert loyalty.balance(program_id, MICHAEL) == 0
    else:
        created(loyalty, JIM, "jim@dundermifflin.com", metadata={"referral_code": "NOSUCHCODE"})
        assert loyalty.balance(program_id, JIM) == 0
    loyalty.bus()
    assert loyalty.bus("loyalty.referral.completed") == []


def test_expiry_warns_on_both_days_once_then_expires(loyalty: Loyalty) -> None:
    club = loyalty.program(
        {"timezone": "Europe/Warsaw", "expiry": {"type": "rolling", "days": 40}, "reminders": [30, 7]}
    )
    loyalty.ok("POST", f"/v1/loyalties/{club['id']}/earning-rules", [ORDER_RULE])
    loyalty.track(MICHAEL, "Order Completed", {"order_id": "E1", "total": 25}, "m-e1")  # 2026-11-24: expires 2027-01-03
    loyalty.bus()
    timeline: list[tuple[str, list[Any]]] = []
    for now in (
        "2026-12-03T22:30:00Z",  # 23:30 on 3 Dec in Warsaw: 31 days left
        "2026-12-03T23:30:00Z",  # 00:30 on 4 Dec in Warsaw: the 30-day reminder
        "2026-12-04T08:30:00Z",  # same local day again
        "2026-12-27T23:30:00Z",  # 28 Dec: the 7-day reminder
        "2026-12-28T23:30:00Z",
        "2027-01-03T23:30:00Z",  # 4 Jan: expired
        "2027-01-04T23:30:00Z",
    ):
        loyalty.hourly(now)
        timeline.append((now, [(e["detail-type"], e["detail"].get("reminder_days")) for e in loyalty.bus()]))
    assert timeline == [
        ("2026-12-03T22:30:00Z", []),
        ("2026-12-03T23:30:00Z", [("loyalty.points.expiring", 30)]),
        ("2026-12-04T08:30:00Z", []),
        ("2026-12-27T23:30:00Z", [("loyalty.points.expiring", 7)]),
        ("2026-12-28T23:30:00Z", []),
        ("2027-01-03T23:30:00Z", [("loyalty.points.expired", None)]),
        ("2027-01-04T23:30:00Z", []),
    ]
    assert loyalty.balance(str(club["id"]), MICHAEL) == 0


def test_tiers_go_up_at_once_and_down_at_the_review(loyalty: Loyalty) -> None:
    club = loyalty.program({"tiers": {"window": "rolling", "rolling_days": 30, "downgrade": "to_qualified"}})
    base = f"/v1/loyalties/{club['id']}"
    loyalty.ok("POST", f"{base}/earning-rules", [ORDER_RULE])
    loyalty.ok(
        "POST", f"{base}/tiers", [{"name": "Member", "points": {"from": 0}}, {"name": "VIP", "points": {"from": 100}}]
    )
    loyalty.track(MICHAEL, "Order Completed", {"order_id": "T1", "total": 120}, "m-t1")
    achieved = [(e["detail"]["tier"]["name"], e["detail"]["direction"]) for e in loyalty.bus("loyalty.tier.achieved")]
    assert achieved == [("Member", "up"), ("VIP", "up")]
    loyalty.hourly("2026-12-23T01:00:00Z")
    assert loyalty.bus("loyalty.tier.achieved") == []
    loyalty.hourly("2026-12-24T01:00:00Z")  # the order's day left the 30-day window
    down = loyalty.bus("loyalty.tier.achieved")
    assert [
        (e["detail"]["tier"]["name"], e["detail"]["direction"], e["detail"]["previous_tier"]["name"]) for e in down
    ] == [("Member", "down", "VIP")]


def test_a_pass_that_runs_out_of_time_continues_on_the_queue(loyalty: Loyalty, monkeypatch: pytest.MonkeyPatch) -> None:
    club = loyalty.program({"expiry": {"type": "rolling", "days": 1}})
    loyalty.ok("POST", f"/v1/loyalties/{club['id']}/earning-rules", [ORDER_RULE])
    loyalty.track(MICHAEL, "Order Completed", {"order_id": "C1", "total": 5}, "m-c1")
    from tests.support import load_handler

    handler = load_handler("loyalty")
    monkeypatch.setattr(handler, "MARGIN_MS", 10**9)  # every member finds the function out of time
    from tests.support import FakeLambdaContext, sample_event

    loyalty.at("2026-11-26T10:00:00Z")
    report = handler.lambda_handler(sample_event("loyalty/hourly"), FakeLambdaContext(function_name="loyalty"))
    assert report["programs"][0]["complete"] is False
    assert loyalty.continuations() == [{"type": "loyalty.sweep", "program_id": club["id"]}]
    monkeypatch.setattr(handler, "MARGIN_MS", 0)
    continuation = sample_event("loyalty/sweep_continuation")
    continuation["Records"][0]["body"] = continuation["Records"][0]["body"].replace(
        "camp_SAMPLEloyaltyprogram0001", str(club["id"])
    )
    assert handler.lambda_handler(continuation, FakeLambdaContext(function_name="loyalty")) == {"batchItemFailures": []}
    assert [e["detail-type"] for e in loyalty.bus("loyalty.points.expired")] == ["loyalty.points.expired"]
    assert loyalty.hourly("2026-11-26T11:00:00Z")["programs"][0]["skipped"] == "done today"
