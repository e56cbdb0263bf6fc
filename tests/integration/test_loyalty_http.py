"""Loyalty on the local stack: events in over HTTP (Segment's Tracking API and the API), the bus to the loyalty
function, the hourly schedule fired on a controlled clock, the API over HTTP, and 20 parallel reward
redemptions against DynamoDB Local. Each test uses its own program and customers (the stack is shared), and
returns the clock to real time."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from perkflow_ops.local.harness import RunningStack

pytestmark = pytest.mark.integration

ORDER_RULE: dict[str, Any] = {
    "event": "order.paid",
    "loyalty": {
        "type": "PROPORTIONAL",
        "calculation_type": "ORDER_AMOUNT",
        "order": {"amount": {"every": 100, "points": 1}},
    },
}


@pytest.fixture
def clock(stack: RunningStack) -> Iterator[Callable[[str], object]]:
    yield lambda now: stack.clock(now=now)
    stack.clock()


def headers(stack: RunningStack) -> dict[str, str]:
    return {"X-App-Id": stack.credentials["PERKFLOW_APP_ID"], "X-App-Token": stack.credentials["PERKFLOW_APP_TOKEN"]}


def call(stack: RunningStack, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    response = stack.request(method, path, json=body, headers=headers(stack))
    return response.status, response.json()


def ok(stack: RunningStack, method: str, path: str, body: Any = None) -> Any:
    status, answer = call(stack, method, path, body)
    assert status == 200, (method, path, status, answer)
    return answer


def send(stack: RunningStack, *messages: dict[str, Any]) -> None:
    token = base64.b64encode(f"{stack.credentials['PERKFLOW_WRITE_KEY']}:".encode()).decode()
    response = stack.request(
        "POST", "/v1/batch", json={"batch": list(messages)}, headers={"Authorization": f"Basic {token}"}
    )
    assert response.status == 200, response.body


def track(user: str, event: str, properties: dict[str, Any], message_id: str) -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": event, "properties": properties, "messageId": message_id}


def loyalty_events(
    stack: RunningStack, program_id: str, detail_type: str, user: str | None = None
) -> list[dict[str, Any]]:
    found = []
    for entry in stack.events():
        event = entry["event"]
        detail = event.get("detail") or {}
        if event.get("detail-type") != detail_type or (detail.get("program") or {}).get("id") != program_id:
            continue
        if user is not None and (detail.get("customer") or {}).get("source_id") != user:
            continue
        found.append(detail)
    return found


def wait_for(probe: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def balance(stack: RunningStack, program_id: str, user: str) -> int | None:
    status, card = call(stack, "GET", f"/v1/loyalties/{program_id}/members/{user}")
    return int(card["loyalty_card"]["balance"]) if status == 200 else None


def settle(stack: RunningStack, program_id: str, user: str, expected: int, timeout: float = 60) -> None:
    wait_for(lambda: balance(stack, program_id, user) == expected, f"{user}'s balance to be {expected}", timeout)


def program(
    stack: RunningStack, perkflow: dict[str, Any] | None = None, rules: list[dict[str, Any]] | None = None
) -> str:
    created = ok(stack, "POST", "/v1/loyalties", {"name": f"Club {uuid.uuid4().hex[:8]}", "perkflow": perkflow or {}})
    if rules:
        ok(stack, "POST", f"/v1/loyalties/{created['id']}/earning-rules", rules)
    return str(created["id"])


def user(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def test_orders_and_custom_events_earn_once_and_a_refund_reverses(stack: RunningStack) -> None:
    club = program(stack, rules=[ORDER_RULE, {"event": "review_left", "loyalty": {"type": "FIXED", "points": 25}}])
    michael = user("michael")
    batch = [
        {
            "type": "identify",
            "userId": michael,
            "traits": {"email": f"{michael}@dundermifflin.com"},
            "messageId": f"{michael}-1",
        },
        track(
            michael, "Order Completed", {"order_id": f"{michael}-o1", "total": 54.99, "shipping": 4.99}, f"{michael}-2"
        ),
        track(michael, "review_left", {"rating": 5}, f"{michael}-3"),
    ]
    send(stack, *batch)
    settle(stack, club, michael, 75)
    send(stack, *batch)  # the replayed batch changes nothing
    time.sleep(2)
    assert balance(stack, club, michael) == 75
    earned = wait_for(lambda: loyalty_events(stack, club, "loyalty.points.earned", michael), "points earned")
    assert sorted((e["source"], e["points"]) for e in earned) == [("event", 25), ("order", 50)]

    send(stack, track(michael, "Order Refunded", {"order_id": f"{michael}-o1"}, f"{michael}-4"))
    settle(stack, club, michael, 25)
    transactions = ok(stack, "GET", f"/v1/loyalties/{club}/members/{michael}/transactions")
    assert transactions["data"][0]["type"] == "POINTS_REMOVAL"


def test_pending_points_activate_on_their_day(stack: RunningStack, clock: Callable[[str], object]) -> None:
    clock("2030-03-01T12:00:00Z")
    club = program(stack, rules=[{**ORDER_RULE, "pending_points": {"period_type": "DAY", "period_value": 3}}])
    dwight = user("dwight")
    send(stack, track(dwight, "Order Completed", {"order_id": f"{dwight}-o", "total": 30}, f"{dwight}-1"))
    wait_for(lambda: balance(stack, club, dwight) == 0, "the member")
    pending = wait_for(
        lambda: ok(stack, "GET", f"/v1/loyalties/{club}/members/{dwight}/pending-points")["data"], "pending"
    )
    assert [(item["points"], item["activates_at"]) for item in pending] == [(30, "2030-03-04")]
    clock("2030-03-03T12:00:00Z")
    stack.fire("loyalty-hourly")
    assert balance(stack, club, dwight) == 0
    clock("2030-03-04T00:30:00Z")
    fired = stack.fire("loyalty-hourly")
    assert fired.status == 200
    assert balance(stack, club, dwight) == 30
    stack.fire("loyalty-hourly")  # the same local day again: nothing twice
    assert balance(stack, club, dwight) == 30


def test_twenty_parallel_redemptions_against_a_balance_covering_five(stack: RunningStack) -> None:
    name = f"Loyalty coupons {uuid.uuid4().hex[:8]}"
    campaign = ok(stack, "POST", "/v1/campaigns", {
        "name": name, "campaign_type": "DISCOUNT_COUPONS", "type": "AUTO_UPDATE", "vouchers_count": 10,
        "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 500},
                    "code_config": {"pattern": "PAR-#######", "charset": "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"}},
    })  # fmt: skip
    club = program(stack)
    reward = {
        "reward": {"name": "$5 off", "type": "CAMPAIGN", "parameters": {"campaign": {"id": campaign["id"]}}},
        "parameters": {"loyalty": {"points": 100}},
    }
    assignment = ok(stack, "POST", f"/v1/loyalties/{club}/rewards", [reward])
    jim = user("jim")
    ok(stack, "POST", f"/v1/loyalties/{club}/members", {"customer": {"source_id": jim}})
    ok(stack, "POST", f"/v1/loyalties/{club}/members/{jim}/balance", {"points": 550})

    def redeem(_: int) -> tuple[int, Any]:
        return call(
            stack, "POST", f"/v1/loyalties/{club}/members/{jim}/redemption", {"reward": {"id": assignment["id"]}}
        )

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(redeem, range(20)))
    succeeded = [body for status, body in answers if status == 200]
    refused = [body for status, body in answers if status != 200]
    assert len(succeeded) == 5, [status for status, _ in answers]
    assert {body["key"] for body in refused} == {"loyalty_card_points_exceeded"}
    codes = {body["reward"]["voucher"]["code"] for body in succeeded}
    assert len(codes) == 5
    assert balance(stack, club, jim) == 50
    card = ok(stack, "GET", f"/v1/loyalties/{club}/members/{jim}")
    assert card["loyalty_card"]["subtracted_points"] == 500
    redeemed = wait_for(
        lambda: (
            len(loyalty_events(stack, club, "loyalty.points.redeemed", jim)) >= 5
            and loyalty_events(stack, club, "loyalty.points.redeemed", jim)
        ),
        "redeemed events",
    )
    assert {event["code"] for event in redeemed} == codes
    assert sorted(event["balance"] for event in redeemed)[0] >= 0


def test_expiry_warns_on_both_days_once_then_expires(stack: RunningStack, clock: Callable[[str], object]) -> None:
    clock("2031-01-10T12:00:00Z")
    club = program(
        stack,
        {"timezone": "America/New_York", "expiry": {"type": "rolling", "days": 40}, "reminders": [30, 7]},
        [ORDER_RULE],
    )
    pam = user("pam")
    send(stack, track(pam, "Order Completed", {"order_id": f"{pam}-o", "total": 12}, f"{pam}-1"))
    settle(stack, club, pam, 12)  # earned 10 Jan in New York: expires 19 Feb
    days: dict[str, list[tuple[str, int | None]]] = {
        "2031-01-20T04:30:00Z": [],  # 19 Jan, 23:30 in New York: 31 days left
        "2031-01-20T05:30:00Z": [("loyalty.points.expiring", 30)],  # 20 Jan, 00:30
        "2031-01-20T15:00:00Z": [],
        "2031-02-12T05:30:00Z": [("loyalty.points.expiring", 7)],
        "2031-02-13T05:30:00Z": [],
        "2031-02-20T05:30:00Z": [("loyalty.points.expired", None)],
        "2031-02-21T05:30:00Z": [],
    }

    def announced() -> list[tuple[str, Any]]:
        kinds = ("loyalty.points.expiring", "loyalty.points.expired")
        return [(kind, e.get("reminder_days")) for kind in kinds for e in loyalty_events(stack, club, kind, pam)]

    def more_than(count: int) -> Callable[[], bool]:
        return lambda: len(announced()) > count

    seen = 0
    for now, expected in days.items():
        clock(now)
        assert stack.fire("loyalty-hourly").status == 200
        if expected:
            wait_for(more_than(seen), f"the announcement of {now}", timeout=30)
        else:
            time.sleep(1.0)
        found = announced()
        assert len(found) == seen + len(expected), (now, found)
        assert sorted(found[seen:], key=str) == expected
        seen = len(found)
    assert balance(stack, club, pam) == 0


def test_tiers_go_up_at_once_and_down_at_the_review(stack: RunningStack, clock: Callable[[str], object]) -> None:
    clock("2032-05-01T12:00:00Z")
    club = program(
        stack, {"tiers": {"window": "rolling", "rolling_days": 30, "downgrade": "to_qualified"}}, [ORDER_RULE]
    )
    ok(
        stack,
        "POST",
        f"/v1/loyalties/{club}/tiers",
        [{"name": "Member", "points": {"from": 0}}, {"name": "VIP", "points": {"from": 100}}],
    )
    angela = user("angela")
    send(stack, track(angela, "Order Completed", {"order_id": f"{angela}-o", "total": 150}, f"{angela}-1"))
    settle(stack, club, angela, 150)
    card = ok(stack, "GET", f"/v1/loyalties/{club}/members/{angela}")
    assert card["perkflow"]["tier"]["name"] == "VIP"
    clock("2032-05-30T00:30:00Z")
    stack.fire("loyalty-hourly")
    assert ok(stack, "GET", f"/v1/loyalties/{club}/members/{angela}")["perkflow"]["tier"]["name"] == "VIP"
    clock("2032-05-31T00:30:00Z")  # 1 May left the 30-day window
    stack.fire("loyalty-hourly")
    assert ok(stack, "GET", f"/v1/loyalties/{club}/members/{angela}")["perkflow"]["tier"]["name"] == "Member"
    moves = wait_for(
        lambda: (
            len(loyalty_events(stack, club, "loyalty.tier.achieved", angela)) == 3
            and loyalty_events(stack, club, "loyalty.tier.achieved", angela)
        ),
        "tier events",
    )
    # The bus keeps no order (nor does EventBridge): joining as Member and climbing to VIP happen at one instant.
    moves = sorted(moves, key=lambda e: (e["occurred_at"], e["tier"]["rank"]))
    assert [(e["tier"]["name"], e["direction"]) for e in moves] == [("Member", "up"), ("VIP", "up"), ("Member", "down")]


def test_referral_happy_path_and_fraud(stack: RunningStack) -> None:
    club = program(
        stack,
        {
            "shop_domain": "dundermifflin.com",
            "referral": {"enabled": True, "friend": {"trigger": "signup", "points": 50}, "advocate": {"points": 100}},
        },
        [ORDER_RULE],
    )
    michael, ryan, toby = user("michael"), user("ryan"), user("toby")
    code = ok(
        stack, "POST", f"/v1/loyalties/{club}/members", {"customer": {"source_id": michael, "email": f"{michael}@x.io"}}
    )["perkflow"]["referral_code"]
    # Ryan signs up through Michael's link (the shop sends the code as a trait) and orders.
    send(
        stack,
        {
            "type": "identify",
            "userId": ryan,
            "traits": {"email": f"{ryan}@x.io", "referral_code": code},
            "messageId": f"{ryan}-1",
        },
    )
    settle(stack, club, ryan, 50)
    send(stack, track(ryan, "Order Completed", {"order_id": f"{ryan}-o", "total": 10}, f"{ryan}-2"))
    settle(stack, club, michael, 100)
    settle(stack, club, ryan, 60)
    started = wait_for(lambda: loyalty_events(stack, club, "loyalty.referral.started", ryan), "referral started")
    assert started[0]["referral_url"] == f"https://dundermifflin.com/r/{code}"
    completed = wait_for(
        lambda: loyalty_events(stack, club, "loyalty.referral.completed", michael), "referral completed"
    )
    assert completed[0]["referee"]["source_id"] == ryan
    # Self-referral, a second referral of Ryan, and an existing customer (Toby ordered before) are refused.
    send(stack, track(michael, "signup", {"referral": {"code": code}}, f"{michael}-self"))
    send(stack, track(toby, "Order Completed", {"order_id": f"{toby}-o", "total": 5}, f"{toby}-1"))
    settle(stack, club, toby, 5)
    send(
        stack,
        track(toby, "signup", {"referral_code": code}, f"{toby}-2"),
        track(ryan, "signup", {"referral_code": code}, f"{ryan}-3"),
    )
    send(stack, track(toby, "Order Completed", {"order_id": f"{toby}-o2", "total": 5}, f"{toby}-3"))
    settle(stack, club, toby, 10)
    time.sleep(2)
    assert balance(stack, club, michael) == 100
    assert balance(stack, club, ryan) == 60
    assert len(loyalty_events(stack, club, "loyalty.referral.completed")) == 1


def test_birthday_reward_once_a_year(stack: RunningStack, clock: Callable[[str], object]) -> None:
    clock("2033-06-01T12:00:00Z")
    club = program(
        stack,
        {"timezone": "Europe/Warsaw", "birthday": {"days_before": 2}},
        [{"event": "customer.birthday", "loyalty": {"type": "FIXED", "points": 200}}],
    )
    kelly = user("kelly")
    send(
        stack,
        {
            "type": "identify",
            "userId": kelly,
            "traits": {"email": f"{kelly}@x.io", "birthday": "1980-06-20"},
            "messageId": f"{kelly}-1",
        },
    )
    wait_for(lambda: balance(stack, club, kelly) == 0, "Kelly joins")
    for now in (
        "2033-06-17T12:00:00Z",
        "2033-06-18T00:30:00Z",
        "2033-06-18T12:00:00Z",
        "2033-06-20T12:00:00Z",
        "2033-06-21T12:00:00Z",
    ):
        clock(now)
        stack.fire("loyalty-hourly")
        if now == "2033-06-17T12:00:00Z":
            assert balance(stack, club, kelly) == 0
    assert balance(stack, club, kelly) == 200
    clock("2034-06-18T12:00:00Z")
    stack.fire("loyalty-hourly")
    assert balance(stack, club, kelly) == 400  # next year, once more
    issued = wait_for(
        lambda: (
            len(loyalty_events(stack, club, "loyalty.reward.issued", kelly)) == 2
            and loyalty_events(stack, club, "loyalty.reward.issued", kelly)
        ),
        "birthday rewards",
    )
    assert [event["reason"] for event in issued] == ["birthday", "birthday"]
    assert json.dumps(issued)  # the events are plain JSON
