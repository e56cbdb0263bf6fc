"""``perkflow demo`` (``make demo``): the story of DESIGN §1 on the local stack, as a readable timeline.

It starts the local stack, plays the shop's part with stock clients and plain HTTP, reads back what perkflow
did (API answers, events on the bus, what Segment, Klaviyo and the webhook received), prints each step as it
happens, and stops everything it started. Exit status 0 means every step saw what the story promises.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from perkflow_ops.local.harness import RunningStack, start_stack
from perkflow_ops.standins.control import Outbound

STORY_START = "2026-11-24T09:00:00Z"
MICHAEL = "michael.scott"
HOLLY = "holly.flax"
GIFT_CAMPAIGN = "Review gift card"
PATTERN = {"pattern": "GIFT-####-####", "charset": "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"}


class StoryFailed(Exception):
    pass


@dataclass
class Timeline:
    started: float = field(default_factory=time.monotonic)

    def say(self, actor: str, text: str) -> None:
        print(f"  +{time.monotonic() - self.started:6.2f}s  {actor:<16} {text}", flush=True)

    def chapter(self, title: str, stack: RunningStack | None = None) -> None:
        if stack is not None:
            stack.clock(advance_seconds=60)  # a minute per chapter: activity lists read in story order
        print(f"\n  {title}", flush=True)


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise StoryFailed(what)


def wait_for(probe: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.25)
    raise StoryFailed(f"timed out waiting for {what}")


@dataclass
class Story:
    stack: RunningStack
    timeline: Timeline
    outbound: Outbound
    ids: dict[str, str] = field(default_factory=dict)

    def api(self, method: str, path: str, json: Any = None, *, ok: bool = True) -> Any:
        response = self.outbound.api(method, path, json)
        if ok:
            expect(response.status < 400, f"{method} {path} answered {response.status}: {response.body[:300]!r}")
        return response.json()

    def bus(self, detail_types: set[str], source_id: str = MICHAEL) -> list[dict[str, Any]]:
        return [
            entry["event"]
            for entry in self.stack.events()
            if entry["event"]["detail-type"] in detail_types
            and (entry["event"].get("detail", {}).get("customer") or {}).get("source_id") == source_id
        ]

    def say(self, actor: str, text: str) -> None:
        self.timeline.say(actor, text)

    # -- the shop's set-up ---------------------------------------------------------------------------------------
    def set_up(self) -> None:
        self.stack.clock(now=STORY_START)
        health = self.stack.request("GET", "/health").json()
        expect(health["now"].startswith(STORY_START[:19]), "the functions' clock did not move")
        self.say("clock", f"every function's clock frozen at {health['now']} (GET /health)")

        connected = self.outbound.connect_klaviyo()
        self.say("klaviyo", f"connected over OAuth (PKCE S256, single-use state): {connected.get('status')}")

        reviewed = {"junction": "and", "events.review_left.count": {"conditions": {"$more_than": [0]}}}
        segment = self.api("POST", "/v1/segments", {"name": "Reviewers", "type": "auto-update", "filter": reviewed})
        self.ids["reviewers"] = segment["id"]
        rule = self.api("POST", "/v1/validation-rules", {
            "name": "Reviewers only", "error": {"message": "Reviewers only"},
            "rules": {"1": {"name": "customer.segment", "conditions": {"$is": [segment["id"]]}, "rules": {}},
                      "logic": "1"},
        })  # fmt: skip
        campaign = self.api("POST", "/v1/campaigns", {
            "name": GIFT_CAMPAIGN, "campaign_type": "GIFT_VOUCHERS", "type": "AUTO_UPDATE", "join_once": True,
            "vouchers_count": 20, "validation_rules": [rule["id"]],
            "voucher": {"type": "GIFT_VOUCHER", "gift": {"amount": 2500}, "code_config": PATTERN},
        })  # fmt: skip
        self.api("POST", "/v1/distributions", {
            "name": "Reviewers get a gift card",
            "trigger": {"type": "customer.segment.entered", "segment_id": segment["id"]},
            "action": {"type": "publish", "campaign": GIFT_CAMPAIGN},
        })  # fmt: skip
        wait_for(lambda: self.api("GET", f"/v1/segments/{segment['id']}")["initial_sync_status"] == "DONE",
                 "the Reviewers segment")  # fmt: skip
        wait_for(lambda: self.api("GET", f"/v1/campaigns/{campaign['id']}")["creation_status"] == "DONE",
                 "the gift card codes")  # fmt: skip
        self.say("admin → api", 'segment "Reviewers" (events.review_left.count > 0), rule "Reviewers only"')
        self.say("admin → api", f'campaign "{GIFT_CAMPAIGN}": 20 unique $25 gift cards, join once, the rule')
        self.say("admin → api", "distribution: entering Reviewers publishes one gift card")

        coupons = self.api("POST", "/v1/campaigns", {
            "name": "Five off", "campaign_type": "DISCOUNT_COUPONS", "type": "AUTO_UPDATE", "vouchers_count": 10,
            "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 500},
                        "code_config": {"pattern": "FIVE-#####", "charset": PATTERN["charset"]}},
        })  # fmt: skip
        program = self.api("POST", "/v1/loyalties", {
            "name": "Dunder Points", "perkflow": {"shop_domain": "dundermifflin.com", "reminders": [30, 7],
                                                  "expiry": {"type": "rolling", "months": 12}},
        })  # fmt: skip
        self.ids["program"] = program["id"]
        self.api("POST", f"/v1/loyalties/{program['id']}/earning-rules", [{
            "event": "order.paid",
            "loyalty": {"type": "PROPORTIONAL", "calculation_type": "ORDER_AMOUNT",
                        "order": {"amount": {"every": 100, "points": 1}}},
        }])  # fmt: skip
        self.api("POST", f"/v1/loyalties/{program['id']}/tiers",
                 [{"name": "Member", "points": {"from": 0}}, {"name": "Gold", "points": {"from": 40}}])  # fmt: skip
        wait_for(lambda: self.api("GET", f"/v1/campaigns/{coupons['id']}")["creation_status"] == "DONE", "coupons")
        reward = self.api("POST", f"/v1/loyalties/{program['id']}/rewards", [{
            "reward": {"name": "$5 off", "type": "CAMPAIGN", "parameters": {"campaign": {"id": coupons["id"]}}},
            "parameters": {"loyalty": {"points": 40}},
        }])  # fmt: skip
        self.ids["reward"] = reward["id"]
        self.say("admin → api", 'loyalty "Dunder Points": 1 point per $1 ordered, Gold at 40, a $5 coupon for 40')

    # -- 1. the shop's backend sends identify and track through a stock Segment client --------------------------
    def shop_sends_events(self) -> None:
        from segment.analytics import Client

        errors: list[Any] = []
        client = Client(
            self.stack.credentials["PERKFLOW_WRITE_KEY"], host=self.stack.url, gzip=True, max_retries=1,
            on_error=lambda error, _batch: errors.append(error),
        )  # fmt: skip
        traits = {"email": "michael@dundermifflin.com", "name": "Michael Scott", "birthday": "1964-03-15",
                  "title": "Regional Manager"}  # fmt: skip
        client.identify(MICHAEL, traits, message_id="demo-michael-identify")
        client.identify(HOLLY, {"email": "holly@dundermifflin.com", "name": "Holly Flax"}, message_id="demo-holly")
        order = {"order_id": "ord-1001", "total": 54.99, "shipping": 5.0, "tax": 4.5, "currency": "USD"}
        client.track(MICHAEL, "Order Completed", order, message_id="demo-michael-order")
        client.track(MICHAEL, "review_left", {"product_id": "PAPER-A4", "rating": 5}, message_id="demo-michael-review")
        client.flush()
        client.shutdown()
        expect(not errors, f"the Segment client reported {errors}")
        self.say("shop → ingest", "identify Michael Scott and Holly Flax (analytics-python, gzip) → 200")
        self.say("shop → ingest", "track Order Completed $54.99 ($5 shipping, $4.50 tax), track review_left → 200")

        wanted = {"customer.created", "customer.event.recorded"}
        events = wait_for(lambda: len(self.bus(wanted)) >= 3 and self.bus(wanted), "Michael's events on the bus")
        for event in sorted(events, key=lambda event: event["detail-type"]):
            detail = event["detail"]
            what = detail.get("event", {}).get("name") or detail["customer"].get("name")
            self.say("bus", f"{event['detail-type']:<24} {what}")

    # -- 2. segments recompute in real time ---------------------------------------------------------------------
    def enters_reviewers(self) -> None:
        entered = wait_for(lambda: self.bus({"customer.segment.entered"}), "Michael entering Reviewers")
        expect(entered[0]["detail"]["segment"]["id"] == self.ids["reviewers"], "Michael entered Reviewers")
        self.say("segments", "customer.segment.entered  Michael Scott → Reviewers")

    # -- 3. the distribution publishes exactly one code ---------------------------------------------------------
    def gift_card_published(self) -> None:
        published = wait_for(lambda: self.bus({"publication.succeeded"}), "the publication")
        code = published[0]["detail"]["voucher"]["code"]
        self.ids["code"] = code
        self.say("distribution", f"publication.succeeded    {code} ($25.00) → Michael Scott")
        wallet = self.api("GET", f"/v1/customers/{MICHAEL}/redeemables")
        codes = [item["redeemable"]["voucher"]["code"] for item in wallet["data"]]
        publications = self.api("GET", f"/v1/publications?customer={MICHAEL}")
        expect(codes == [code] and len(publications["publications"]) == 1, f"the wallet shows {codes}")
        self.say("api", f"GET /v1/customers/{MICHAEL}/redeemables → {codes} (and 1 publication)")

    # -- 5. checkout: validate against rules and balance, redeem -------------------------------------------------
    def checkout(self) -> None:
        code = self.ids["code"]

        def request(source_id: str, order_id: str) -> dict[str, Any]:
            return {"customer": {"source_id": source_id}, "redeemables": [{"object": "voucher", "id": code}],
                    "order": {"amount": 4000, "source_id": order_id}}  # fmt: skip

        holly = self.api("POST", "/v1/validations", request(HOLLY, "ord-2001"))
        error = holly["redeemables"][0]["result"]["error"]
        expect(holly["valid"] is False and error["key"] == "customer_rules_violated", "Holly is refused")
        self.say("shop → api", f"validate {code} for Holly (not a reviewer) → valid: false, {error['key']}")
        valid = self.api("POST", "/v1/validations", request(MICHAEL, "ord-1002"))
        expect(valid["valid"] is True and valid["order"]["total_amount"] == 1500, "Michael validates")
        self.say(
            "shop → api",
            f"validate for Michael, $40.00 order → valid: true, pays {valid['order']['total_amount'] / 100:.2f}",
        )
        redeemed = self.api("POST", "/v1/redemptions", request(MICHAEL, "ord-1002"))
        expect(redeemed["parent_redemption"]["result"] == "SUCCESS", "the redemption succeeds")
        balance = self.api("GET", f"/v1/vouchers/{code}")["gift"]["balance"]
        self.say("shop → api", f"redeem → {redeemed['parent_redemption']['id']}, card balance now {balance / 100:.2f}")
        again = self.outbound.api("POST", "/v1/redemptions", request(MICHAEL, "ord-1003"))
        expect(again.status == 400 and again.json()["key"] == "gift_amount_exceeded", "a second redemption is refused")
        self.say("shop → api", "redeem again on a new order → 400 gift_amount_exceeded (one FAILED record)")

    # -- 6. loyalty: earning, a tier, a reward ---------------------------------------------------------------------
    def loyalty(self) -> None:
        program = self.ids["program"]
        earned = wait_for(lambda: self.bus({"loyalty.points.earned"}), "points earned on the order")
        detail = earned[0]["detail"]
        self.say("loyalty", f"loyalty.points.earned    +{detail['points']} on the order (balance {detail['balance']})")

        def gold() -> list[dict[str, Any]]:
            return [e for e in self.bus({"loyalty.tier.achieved"}) if e["detail"]["tier"]["name"] == "Gold"]

        tier = wait_for(gold, "Michael reaching Gold")
        self.say(
            "loyalty",
            f"loyalty.tier.achieved    {tier[0]['detail']['tier']['name']} ({tier[0]['detail']['direction']})",
        )
        spent = self.api("POST", f"/v1/loyalties/{program}/members/{MICHAEL}/redemption",
                         {"reward": {"id": self.ids["reward"]}})  # fmt: skip
        coupon = spent["reward"]["voucher"]["code"]
        card = self.api("GET", f"/v1/loyalties/{program}/members/{MICHAEL}")["loyalty_card"]
        self.say("shop → api", f'redeem the "$5 off" reward → coupon {coupon}, {card["balance"]} points left')

    # -- 4 and 6: everything went out ---------------------------------------------------------------------------
    def outbound_received(self) -> None:
        wanted_segment = {"Customer Segment Entered", "Customer Publication Succeeded", "Customer Redemption Succeeded",
                          "Points Earned on Order", "VIP Tier Achieved", "Points Redeemed"}  # fmt: skip

        def received() -> dict[str, set[str]] | None:
            sinks = self.stack.sinks()
            messages = [m for r in sinks["segment"] if r["path"] == "/v1/batch" for m in r["body"]["batch"]]
            webhooks = [r["body"] for r in sinks["webhook"] if isinstance(r["body"], dict)]
            seen = {
                "segment": {m.get("event") or "identify" for m in messages if m.get("userId") == MICHAEL},
                "klaviyo": _klaviyo_metrics(sinks["klaviyo"]),
                "webhook": {body["type"] for body in webhooks if "type" in body},
            }
            done = wanted_segment <= seen["segment"] and wanted_segment <= seen["klaviyo"] and seen["webhook"]
            return seen if done else None

        seen = wait_for(received, "Segment, Klaviyo and the webhook to receive the story", timeout=90)
        tracks = sorted(name for name in seen["segment"] if name != "identify")
        self.say("→ segment", f"track: {', '.join(tracks)}; identify with loyalty traits")
        self.say("→ klaviyo", f"events: {', '.join(sorted(seen['klaviyo']))}; profile properties")
        self.say("→ webhook", f"signed (x-voucherify-signature): {', '.join(sorted(seen['webhook']))}")

    def profile(self) -> None:
        customer = self.api("GET", f"/v1/customers/{MICHAEL}")
        summary = customer["summary"]["redemptions"]
        self.say("api", f"GET /v1/customers/{MICHAEL} → {customer['name']}, {customer['loyalty']['points']} points, "
                        f"{summary['total_succeeded']} redeemed, {summary['total_failed']} failed")  # fmt: skip
        activity = self.api("GET", f"/v1/customers/{MICHAEL}/activity?limit=30")
        types = [item["data"].get("event", {}).get("type") or item["type"] for item in activity["data"]]
        for needed in ("review_left", "customer.publication.succeeded", "customer.redemption.succeeded"):
            expect(needed in types, f"the activity shows {needed}: {types}")
        self.say("api", f"activity (newest first): {', '.join(types)}")

    def replay_is_harmless(self) -> None:
        from segment.analytics import Client

        client = Client(self.stack.credentials["PERKFLOW_WRITE_KEY"], host=self.stack.url, gzip=True, max_retries=1)
        client.track(MICHAEL, "review_left", {"product_id": "PAPER-A4", "rating": 5}, message_id="demo-michael-review")
        client.flush()
        client.shutdown()
        time.sleep(2.0)
        reviews = [e for e in self.bus({"customer.event.recorded"}) if e["detail"]["event"]["name"] == "review_left"]
        gift_cards = [
            e for e in self.bus({"publication.succeeded"}) if e["detail"]["voucher"]["code"].startswith("GIFT-")
        ]
        expect(len(reviews) == 1 and len(gift_cards) == 1, "a replay changed something")
        self.say("shop → ingest", "the review again, same messageId (a client retry) → 200, nothing new, no 2nd code")


def _klaviyo_metrics(requests: list[dict[str, Any]]) -> set[str]:
    names: set[str] = set()
    for request in requests:
        body = request["body"]
        if request["path"] == "/api/events":
            names.add(body["data"]["attributes"]["metric"]["data"]["attributes"]["name"])
        elif request["path"] == "/api/event-bulk-create-jobs":
            for element in body["data"]["attributes"]["events-bulk-create"]["data"]:
                for event in element["attributes"]["events"]["data"]:
                    names.add(event["attributes"]["metric"]["data"]["attributes"]["name"])
    return names


def main() -> int:
    print("perkflow demo: DESIGN §1 end to end on the local stack", flush=True)
    timeline = Timeline()
    try:
        with start_stack(env={"PERKFLOW_LOCAL_TIMERS": "off"}) as stack:
            timeline.say("local stack", f"ready at {stack.url} (DynamoDB Local, moto, a worker pool per function)")
            story = Story(stack, timeline, Outbound(stack))
            timeline.chapter("The shop sets perkflow up")
            story.set_up()
            timeline.chapter("1-2. Michael's events arrive; segments recompute in real time", stack)
            story.shop_sends_events()
            story.enters_reviewers()
            timeline.chapter("3-4. Exactly one gift card is published to him", stack)
            story.gift_card_published()
            timeline.chapter("5. Checkout: validate, redeem", stack)
            story.checkout()
            timeline.chapter("6. Loyalty runs beside it", stack)
            story.loyalty()
            timeline.chapter("Every incentive event went out", stack)
            story.outbound_received()
            story.profile()
            story.replay_is_harmless()
        timeline.say("local stack", "stopped")
    except StoryFailed as failure:
        print(f"\nthe story broke: {failure}", file=sys.stderr)
        return 1
    print("\ndone: every step of the story happened as promised.")
    return 0
