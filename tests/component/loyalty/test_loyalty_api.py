"""The /v1/loyalties API on the api handler: programs, earning rules, tiers, rewards, members, balance,
transactions, pending and expiring points, reward redemption through the promotions machinery. Every answer
is checked against Voucherify's response schema (tests/component/loyalty/spec_fragments.json)."""

from __future__ import annotations

from typing import Any

from perkflow.domain.customers import customer_id_for
from tests.component.loyalty.conftest import MICHAEL, ORDER_RULE, Loyalty, discount_campaign
from tests.component.loyalty.spec import check


def test_programs_are_created_read_listed_updated_and_deleted(loyalty: Loyalty) -> None:
    created = loyalty.program(
        {"timezone": "Europe/Warsaw", "expiry": {"type": "rolling", "days": 90}, "reminders": [30, 7]},
        voucher={"loyalty_card": {"points": 10}, "code_config": {"pattern": "DM-######"}},
    )
    check("LoyaltiesCreateCampaignResponseBody", created)
    assert created["id"].startswith("camp_")
    assert created["campaign_type"] == "LOYALTY_PROGRAM"
    assert created["perkflow"]["timezone"] == "Europe/Warsaw"
    assert created["perkflow"]["expiry"] == {"type": "rolling", "days": 90, "months": None, "round_to": None}
    fetched = loyalty.ok("GET", f"/v1/loyalties/{created['id']}")
    check("LoyaltiesGetCampaignResponseBody", fetched)
    assert loyalty.ok("GET", "/v1/loyalties/Dunder Club")["id"] == created["id"]
    listed = loyalty.ok("GET", "/v1/loyalties")
    check("LoyaltiesListCampaignsResponseBody", listed)
    assert [item["id"] for item in listed["campaigns"]] == [created["id"]]
    duplicate = loyalty.call("POST", "/v1/loyalties", {"name": "dunder club"})
    assert (duplicate.status, duplicate.key) == (409, "duplicate_found")
    updated = loyalty.ok(
        "PUT", f"/v1/loyalties/{created['id']}", {"name": "Dunder Rewards", "perkflow": {"reminders": [14]}}
    )
    assert updated["name"] == "Dunder Rewards"
    assert updated["perkflow"]["reminders"] == [14]
    assert updated["perkflow"]["timezone"] == "Europe/Warsaw"  # what the update leaves out stays
    assert loyalty.call("POST", "/v1/loyalties", {"name": "Dunder Club"}).status == 200  # the old name is free
    loyalty.ok("DELETE", f"/v1/loyalties/{created['id']}")
    assert loyalty.call("GET", f"/v1/loyalties/{created['id']}").status == 404


def test_bad_program_bodies_are_400_in_the_error_shape(loyalty: Loyalty) -> None:
    bodies: tuple[Any, ...] = (
        {"perkflow": {}},
        {"name": "x", "perkflow": {"timezone": "Nowhere/Land"}},
        {"name": "x", "perkflow": {"expiry": {"type": "rolling"}}},
        {"name": "x", "perkflow": {"referral": {"url_template": "https://no-code"}}},
        "not an object",
    )
    for body in bodies:
        answer = loyalty.call("POST", "/v1/loyalties", body)
        assert answer.status == 400, body
        assert set(answer.body) >= {"code", "key", "message", "details", "request_id"}
    assert loyalty.call("GET", "/v1/loyalties/camp_nope").key == "not_found"


def test_earning_rules_tiers_and_rewards_in_voucherify_shapes(loyalty: Loyalty) -> None:
    club = loyalty.program()
    base = f"/v1/loyalties/{club['id']}"
    rules = loyalty.ok(
        "POST",
        f"{base}/earning-rules",
        [
            ORDER_RULE,
            {
                "event": "review_left",
                "loyalty": {"type": "FIXED", "points": 25},
                "source": {"banner": "Review: 25 points"},
            },
        ],
    )
    for rule in rules:
        check("LoyaltiesEarningRulesCreateResponseBody", rule)
    assert rules[0]["loyalty"]["order"]["amount"] == {"every": 100, "points": 1}
    check("LoyaltiesEarningRulesListResponseBody", loyalty.ok("GET", f"{base}/earning-rules"))
    disabled = loyalty.ok("POST", f"{base}/earning-rules/{rules[1]['id']}/disable")
    assert disabled["active"] is False
    check("LoyaltiesEarningRulesGetResponseBody", loyalty.ok("GET", f"{base}/earning-rules/{rules[1]['id']}"))
    changed = loyalty.ok("PUT", f"{base}/earning-rules/{rules[1]['id']}", {"loyalty": {"type": "FIXED", "points": 30}})
    assert changed["loyalty"]["points"] == 30
    assert loyalty.call("POST", f"{base}/earning-rules", [{"event": "x", "loyalty": {"type": "FIXED"}}]).status == 400
    assert loyalty.call("DELETE", f"{base}/earning-rules/{rules[1]['id']}").status == 204
    assert loyalty.call("GET", f"{base}/earning-rules/{rules[1]['id']}").status == 404

    tiers = loyalty.ok(
        "POST",
        f"{base}/tiers",
        [
            {"name": "Bronze", "points": {"from": 0, "to": 99}},
            {
                "name": "Gold",
                "points": {"from": 100},
                "earning_rules": {rules[0]["id"]: {"type": "MULTIPLY", "multiplier": 2}},
            },
        ],
    )
    check("LoyaltiesTiersCreateInBulkResponseBody", tiers)
    check("LoyaltiesTiersListResponseBody", loyalty.ok("GET", f"{base}/tiers"))
    check("LoyaltiesTiersGetResponseBody", loyalty.ok("GET", f"{base}/tiers/{tiers[1]['id']}"))
    assert loyalty.ok("GET", f"{base}/tiers/{tiers[1]['id']}/earning-rules")["total"] == 1

    reward_body = {
        "reward": {"name": "$5 off", "type": "CAMPAIGN", "parameters": {"campaign": {"id": "camp_x"}}},
        "parameters": {"loyalty": {"points": 100}},
    }
    assignment = loyalty.ok("POST", f"{base}/rewards", [reward_body])
    check("LoyaltiesRewardsCreateAssignmentResponseBody", assignment)
    check("LoyaltiesRewardsListAssignmentsResponseBody", loyalty.ok("GET", f"{base}/rewards"))
    reward = loyalty.ok("GET", f"{base}/reward-assignments/{assignment['id']}/reward")
    check("LoyaltiesRewardAssignmentsRewardGetResponseBody", reward)
    assert reward["name"] == "$5 off"
    repriced = loyalty.ok("PUT", f"{base}/rewards/{assignment['id']}", {"parameters": {"loyalty": {"points": 120}}})
    assert repriced["parameters"]["loyalty"]["points"] == 120
    assert loyalty.call("POST", f"{base}/rewards", [{"reward": "rew_elsewhere"}]).status == 400
    assert loyalty.call("DELETE", f"{base}/rewards/{assignment['id']}").status == 204
    assert loyalty.ok("GET", f"{base}/rewards")["total"] == 0


def _earning_program(loyalty: Loyalty, perkflow: dict[str, Any] | None = None) -> tuple[str, str]:
    club = loyalty.program(perkflow)
    base = f"/v1/loyalties/{club['id']}"
    loyalty.ok("POST", f"{base}/earning-rules", [ORDER_RULE])
    return str(club["id"]), base


def test_members_join_and_are_found_by_code_id_or_customer(loyalty: Loyalty) -> None:
    program_id, base = _earning_program(loyalty, {"referral": {"enabled": True}, "shop_domain": "dundermifflin.com"})
    card = loyalty.ok(
        "POST", f"{base}/members", {"customer": {"source_id": MICHAEL, "email": "michael@dundermifflin.com"}}
    )
    check("LoyaltiesMembersGetResponseBody", card)
    assert card["holder_id"] == customer_id_for(MICHAEL)
    assert card["perkflow"]["referral_url"] == f"https://dundermifflin.com/r/{card['perkflow']['referral_code']}"
    assert loyalty.ok("POST", f"{base}/members", {"customer": {"source_id": MICHAEL}})["code"] == card["code"]
    assert loyalty.ok("GET", f"/v1/loyalties/members/{card['code']}")["id"] == card["id"]
    assert loyalty.ok("GET", f"/v1/loyalties/members/{card['id']}")["code"] == card["code"]
    assert loyalty.ok("GET", f"{base}/members/{MICHAEL}")["code"] == card["code"]
    assert loyalty.ok("GET", f"/v1/customers/{MICHAEL}")["email"] == "michael@dundermifflin.com"  # upserted
    listed = loyalty.ok("GET", f"{base}/members")
    check("LoyaltiesListMembersResponseBody", listed)
    assert [item["code"] for item in listed["vouchers"]] == [card["code"]]
    assert loyalty.call("GET", "/v1/loyalties/members/NOPE").key == "not_found"
    assert loyalty.call("POST", f"{base}/members", {}).key == "missing_customer"
    assert program_id


def test_balance_changes_transactions_and_expiring_points(loyalty: Loyalty) -> None:
    program_id, base = _earning_program(loyalty, {"expiry": {"type": "rolling", "days": 30}})
    loyalty.track(MICHAEL, "Order Completed", {"order_id": "A1", "total": 20}, "m-a1")
    added = loyalty.ok(
        "POST", f"{base}/members/{MICHAEL}/balance", {"points": 15, "reason": "sorry", "source_id": "goodwill-1"}
    )
    check("LoyaltiesMembersBalanceUpdateResponseBody", added)
    assert (added["points"], added["balance"]) == (15, 35)
    again = loyalty.ok("POST", f"{base}/members/{MICHAEL}/balance", {"points": 15, "source_id": "goodwill-1"})
    assert again["balance"] == 35  # the same source id adjusts once
    too_much = loyalty.call("POST", f"{base}/members/{MICHAEL}/balance", {"points": -36})
    assert (too_much.status, too_much.key) == (400, "loyalty_card_points_exceeded")
    assert loyalty.call("POST", f"{base}/members/{MICHAEL}/balance", {"points": "many"}).status == 400
    loyalty.ok("POST", f"{base}/members/{MICHAEL}/balance", {"points": -5})
    page = loyalty.ok("GET", f"{base}/members/{MICHAEL}/transactions", query="limit=2")
    check("LoyaltiesMembersTransactionsListResponseBody", page)
    assert [item["type"] for item in page["data"]] == ["POINTS_REMOVAL", "POINTS_ADDITION"]
    assert page["has_more"] is True
    rest = loyalty.ok(
        "GET", f"/v1/loyalties/members/{MICHAEL}/transactions", query=f"starting_after_id={page['more_starting_after']}"
    )
    assert [item["type"] for item in rest["data"]] == ["POINTS_ACCRUAL"]
    expiring = loyalty.ok("GET", f"{base}/members/{MICHAEL}/points-expiration")
    check("LoyaltiesMembersPointsExpirationListResponseBody", expiring)
    assert [(item["expires_at"], item["bucket"]["total_points"]) for item in expiring["data"]] == [("2026-12-24", 30)]
    assert program_id


def test_pending_points_are_listed_activated_and_cancelled_through_the_api(loyalty: Loyalty) -> None:
    club = loyalty.program()
    base = f"/v1/loyalties/{club['id']}"
    loyalty.ok(
        "POST", f"{base}/earning-rules", [{**ORDER_RULE, "pending_points": {"period_type": "DAY", "period_value": 14}}]
    )
    loyalty.track(MICHAEL, "Order Completed", {"order_id": "P1", "total": 30}, "m-p1")
    loyalty.track(MICHAEL, "Order Completed", {"order_id": "P2", "total": 12}, "m-p2")
    pending = loyalty.ok("GET", f"{base}/members/{MICHAEL}/pending-points")
    check("LoyaltiesMembersPendingPointsListResponseBody", pending)
    assert sorted(item["points"] for item in pending["data"]) == [12, 30]
    first = next(item for item in pending["data"] if item["points"] == 30)
    assert first["activates_at"] == "2026-12-08"
    activated = loyalty.ok("POST", f"/v1/loyalties/members/{MICHAEL}/pending-points/{first['id']}/activate")
    check("LoyaltiesMembersPendingPointsActivateResponseBody", activated)
    assert activated["balance"] == 30
    other = next(item for item in pending["data"] if item["points"] == 12)
    assert loyalty.call("POST", f"/v1/loyalties/members/{MICHAEL}/pending-points/{other['id']}/cancel").status == 204
    card = loyalty.member(str(club["id"]), MICHAEL)
    assert (card["loyalty_card"]["balance"], card["loyalty_card"]["pending_points"]) == (30, 0)
    assert loyalty.call("POST", f"/v1/loyalties/members/{MICHAEL}/pending-points/{other['id']}/activate").status == 404


def test_redeeming_a_reward_spends_points_and_issues_a_code_once(loyalty: Loyalty) -> None:
    campaign = loyalty.ok("POST", "/v1/campaigns", discount_campaign())
    club = loyalty.program({"reward_reminder_days": 3})
    base = f"/v1/loyalties/{club['id']}"
    loyalty.ok("POST", f"{base}/earning-rules", [ORDER_RULE])
    reward = {
        "reward": {"name": "$5 off", "type": "CAMPAIGN", "parameters": {"campaign": {"id": campaign["id"]}}},
        "parameters": {"loyalty": {"points": 40}},
    }
    assignment = loyalty.ok("POST", f"{base}/rewards", [reward])
    loyalty.track(MICHAEL, "Order Completed", {"order_id": "R1", "total": 100}, "m-r1")
    rewards = loyalty.ok("GET", f"/v1/loyalties/members/{MICHAEL}/rewards", query="affordable_only=true")
    check("LoyaltiesMembersRewardsListResponseBody", rewards)
    assert [item["assignment"]["id"] for item in rewards["data"]] == [assignment["id"]]
    loyalty.bus()

    body = {"reward": {"id": assignment["id"]}, "source_id": "checkout-77"}
    redeemed = loyalty.ok("POST", f"{base}/members/{MICHAEL}/redemption", body)
    check("LoyaltiesMembersRedemptionRedeemResponseBody", redeemed)
    assert (redeemed["result"], redeemed["loyalty_card"]["points"]) == ("SUCCESS", 40)
    code = redeemed["reward"]["voucher"]["code"]
    assert code.startswith("SAVE5-")
    assert redeemed["voucher"]["loyalty_card"]["balance"] == 60
    replay = loyalty.ok("POST", f"/v1/loyalties/members/{MICHAEL}/redemption", body)
    assert (replay["id"], replay["reward"]["voucher"]["code"]) == (redeemed["id"], code)
    assert loyalty.balance(str(club["id"]), MICHAEL) == 60
    wallet = loyalty.ok("GET", f"/v1/customers/{MICHAEL}/redeemables")
    assert code in [item["redeemable"]["voucher"]["code"] for item in wallet["data"]]
    events = loyalty.bus("loyalty.points.redeemed")
    assert len(events) == 1
    detail = events[0]["detail"]
    assert (detail["points"], detail["balance"], detail["code"], detail["reward"]["name"]) == (40, 60, code, "$5 off")

    loyalty.ok("POST", f"{base}/members/{MICHAEL}/redemption", {"reward": {"id": assignment["id"]}})
    short = loyalty.call("POST", f"{base}/members/{MICHAEL}/redemption", {"reward": {"id": assignment["id"]}})
    assert (short.status, short.key) == (400, "loyalty_card_points_exceeded")
    assert loyalty.balance(str(club["id"]), MICHAEL) == 20
    wrong_price = loyalty.call(
        "POST", f"{base}/members/{MICHAEL}/redemption", {"reward": {"id": assignment["id"], "points": 1}}
    )
    assert wrong_price.status == 400
    assert loyalty.call("POST", f"{base}/members/{MICHAEL}/redemption", {"reward": {"id": "rewa_nope"}}).status == 404


def test_a_reward_whose_code_cannot_be_issued_gives_the_points_back(loyalty: Loyalty) -> None:
    campaign = loyalty.ok(
        "POST", "/v1/campaigns", {**discount_campaign("One code"), "type": "STATIC", "vouchers_count": 1}
    )
    club = loyalty.program()
    base = f"/v1/loyalties/{club['id']}"
    reward = {
        "reward": {"name": "Last one", "type": "CAMPAIGN", "parameters": {"campaign": {"id": campaign["id"]}}},
        "parameters": {"loyalty": {"points": 10}},
    }
    assignment = loyalty.ok("POST", f"{base}/rewards", [reward])
    loyalty.ok("POST", f"{base}/members", {"customer": {"source_id": MICHAEL}})
    loyalty.ok("POST", f"{base}/members/{MICHAEL}/balance", {"points": 30})
    first = loyalty.ok("POST", f"{base}/members/{MICHAEL}/redemption", {"reward": {"id": assignment["id"]}})
    assert first["reward"]["voucher"]["code"]
    failed = loyalty.call("POST", f"{base}/members/{MICHAEL}/redemption", {"reward": {"id": assignment["id"]}})
    assert (failed.status, failed.key) == (400, "no_voucher_suitable_for_publication")
    assert loyalty.balance(str(club["id"]), MICHAEL) == 20
    types = [item["type"] for item in loyalty.ok("GET", f"{base}/members/{MICHAEL}/transactions")["data"]]
    assert types[:2] == ["POINTS_REFUND", "POINTS_REDEMPTION"]


def test_a_manual_tier_is_set_and_listed(loyalty: Loyalty) -> None:
    club = loyalty.program()
    base = f"/v1/loyalties/{club['id']}"
    tiers = loyalty.ok(
        "POST", f"{base}/tiers", [{"name": "Bronze", "points": {"from": 0}}, {"name": "Gold", "points": {"from": 1000}}]
    )
    loyalty.ok("POST", f"{base}/members", {"customer": {"source_id": MICHAEL}})
    card = loyalty.ok("PUT", f"{base}/members/{MICHAEL}/tier", {"tier_id": tiers[1]["id"]})
    assert card["perkflow"]["tier"]["name"] == "Gold"
    listed = loyalty.ok("GET", f"/v1/loyalties/members/{MICHAEL}/tiers")
    check("LoyaltiesMembersTiersListResponseBody", listed)
    assert [tier["name"] for tier in listed["data"]] == ["Gold"]
    assert loyalty.call("PUT", f"{base}/members/{MICHAEL}/tier", {"tier_id": "ltr_nope"}).status == 404
    achieved = loyalty.bus("loyalty.tier.achieved")
    assert [(event["detail"]["tier"]["name"], event["detail"]["direction"]) for event in achieved] == [
        ("Bronze", "up"),
        ("Gold", "up"),
    ]
