"""``perkflow demo`` (``make demo``): the story of DESIGN §1 on the local stack, as a readable timeline.

It starts the local stack, plays the shop's part with stock clients, reads back what perkflow did (API answers,
events on the bus), prints each step as it happens, and stops everything it started. Exit status 0 means every
step saw what the story promises.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from perkflow_ops.local.harness import RunningStack, start_stack

STORY_START = "2026-11-24T09:00:00Z"
MICHAEL = "michael.scott"


class StoryFailed(Exception):
    pass


@dataclass
class Timeline:
    started: float = field(default_factory=time.monotonic)

    def say(self, actor: str, text: str) -> None:
        print(f"  +{time.monotonic() - self.started:6.2f}s  {actor:<14} {text}", flush=True)


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise StoryFailed(what)


def wait_for(probe: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise StoryFailed(f"timed out waiting for {what}")


@dataclass
class Story:
    stack: RunningStack
    timeline: Timeline
    reviewers: str = ""

    def api(self, method: str, path: str, json: Any = None) -> Any:
        headers = {
            "X-App-Id": self.stack.credentials["PERKFLOW_APP_ID"],
            "X-App-Token": self.stack.credentials["PERKFLOW_APP_TOKEN"],
        }
        response = self.stack.request(method, path, json=json, headers=headers)
        expect(response.status < 400, f"{method} {path} answered {response.status}: {response.body[:300]!r}")
        return response.json()

    def bus_events(self, source_id: str, detail_types: set[str]) -> list[dict[str, Any]]:
        return [
            entry["event"]
            for entry in self.stack.events()
            if entry["event"]["detail-type"] in detail_types
            and (entry["event"].get("detail", {}).get("customer") or {}).get("source_id") == source_id
        ]

    # -- step 0 ------------------------------------------------------------------------------------------------
    def clock(self) -> None:
        self.stack.clock(now=STORY_START)
        health = self.stack.request("GET", "/health").json()
        expect(health["now"].startswith(STORY_START[:19]), "the functions' clock did not move")
        self.timeline.say("clock", f"every function's clock frozen at {health['now']} (GET /health)")

    def reviewers_segment(self) -> None:
        reviewed = {"junction": "and", "events.review_left.count": {"conditions": {"$more_than": [0]}}}
        body = {"name": "Reviewers", "type": "auto-update", "filter": reviewed}
        segment = self.api("POST", "/v1/segments", body)
        self.reviewers = segment["id"]
        wait_for(lambda: self.api("GET", f"/v1/segments/{self.reviewers}")["initial_sync_status"] == "DONE",
                 "the Reviewers segment to finish its initial sync")  # fmt: skip
        self.timeline.say("api", f'POST /v1/segments "Reviewers" (events.review_left.count > 0) → {segment["id"]}')

    # -- step 1: the shop sends identify and track through a stock Segment client ------------------------------
    def shop_sends_events(self) -> None:
        from segment.analytics import Client

        errors: list[Any] = []
        client = Client(
            self.stack.credentials["PERKFLOW_WRITE_KEY"],
            host=self.stack.url,
            gzip=True,
            max_retries=1,
            on_error=lambda error, _batch: errors.append(error),
        )
        traits = {"email": "michael@dundermifflin.com", "name": "Michael Scott", "birthday": "1964-03-15",
                  "title": "Regional Manager"}  # fmt: skip
        client.identify(MICHAEL, traits, message_id="demo-michael-identify")
        self.timeline.say("shop → ingest", "identify Michael Scott (analytics-python, gzip)")
        client.track(MICHAEL, "Order Completed", {"order_id": "ord-1001", "total": 54.99, "shipping": 5.0,
                                                  "tax": 4.5, "currency": "USD"},
                     message_id="demo-michael-order")  # fmt: skip
        self.timeline.say("shop → ingest", "track Order Completed, total $54.99")
        client.track(MICHAEL, "review_left", {"product_id": "PAPER-A4", "rating": 5},
                     message_id="demo-michael-review")  # fmt: skip
        self.timeline.say("shop → ingest", "track review_left, rating 5")
        client.flush()
        client.shutdown()
        expect(not errors, f"the Segment client reported {errors}")
        self.timeline.say("ingest", "200 {success: true} for the batch")

    # -- step 2: perkflow records them and announces each change -----------------------------------------------
    def events_announced(self) -> None:
        wanted = {"customer.created", "customer.event.recorded"}
        events = wait_for(lambda: len(self.bus_events(MICHAEL, wanted)) >= 3 and self.bus_events(MICHAEL, wanted),
                          "customer.created and two customer.event.recorded on the bus")  # fmt: skip
        for event in sorted(events, key=lambda event: event["detail-type"]):
            detail = event["detail"]
            what = detail.get("event", {}).get("name") or detail["customer"].get("name")
            self.timeline.say("bus", f"{event['detail-type']:<24} {what}   (from {event['source']})")

    # -- step 2: segments recompute in real time --------------------------------------------------------------
    def enters_reviewers(self) -> None:
        entered = wait_for(lambda: self.bus_events(MICHAEL, {"customer.segment.entered"}),
                           "Michael entering Reviewers")  # fmt: skip
        expect(len(entered) == 1 and entered[0]["detail"]["segment"]["id"] == self.reviewers, "entered once")
        self.timeline.say(
            "segments", f"customer.segment.entered  Michael Scott → {entered[0]['detail']['segment']['name']}"
        )
        members = self.api("GET", f"/v1/segments/{self.reviewers}/customers")
        mine = self.api("GET", f"/v1/customers/{MICHAEL}/segments")
        expect([member["source_id"] for member in members["data"]] == [MICHAEL], "Reviewers lists Michael")
        self.timeline.say("api", f"GET /v1/customers/{MICHAEL}/segments → {[entry['name'] for entry in mine['data']]}")

    def profile_and_activity(self) -> None:
        customer = self.api("GET", f"/v1/customers/{MICHAEL}")
        expect(customer["email"] == "michael@dundermifflin.com", "profile email")
        self.timeline.say(
            "api",
            f"GET /v1/customers/{MICHAEL} → {customer['id']} {customer['name']} <{customer['email']}> "
            f"born {customer['birthdate']}, metadata {customer['metadata']}",
        )
        activity = self.api("GET", f"/v1/customers/{MICHAEL}/activity")
        rows = [item["data"].get("event", {}).get("type") or item["type"] for item in activity["data"]]
        expected = {"review_left", "Order Completed", "customer.created", "customer.segment.entered"}
        expect(set(rows) == expected, f"activity was {rows}")
        self.timeline.say("api", f"GET /v1/customers/{MICHAEL}/activity → {', '.join(rows)}")
        schema = self.api("GET", "/v1/event-schema")
        described = [f"{entry['event']} ({_properties(entry['properties'])})" for entry in schema["data"]]
        self.timeline.say("api", f"GET /v1/event-schema → {'; '.join(described)}")

    def replay_is_harmless(self) -> None:
        from segment.analytics import Client

        client = Client(self.stack.credentials["PERKFLOW_WRITE_KEY"], host=self.stack.url, gzip=True, max_retries=1)
        client.track(MICHAEL, "review_left", {"product_id": "PAPER-A4", "rating": 5},
                     message_id="demo-michael-review")  # fmt: skip
        client.flush()
        client.shutdown()
        time.sleep(1.0)
        activity = self.api("GET", f"/v1/customers/{MICHAEL}/activity")
        reviews = [item for item in activity["data"] if item["data"].get("event", {}).get("type") == "review_left"]
        recorded = self.bus_events(MICHAEL, {"customer.event.recorded"})
        entered = self.bus_events(MICHAEL, {"customer.segment.entered"})
        expect(len(reviews) == 1 and len(recorded) == 2 and len(entered) == 1,
               "a replayed message was stored or announced twice")  # fmt: skip
        self.timeline.say("shop → ingest", "the review again, same messageId (a client retry) → 200, nothing new")


def _properties(properties: dict[str, Any]) -> str:
    return ", ".join(f"{name}: {'|'.join(prop['types'])}" for name, prop in properties.items())


def main() -> int:
    print("perkflow demo: the story so far, on the local stack\n", flush=True)
    timeline = Timeline()
    try:
        with start_stack(env={"PERKFLOW_LOCAL_TIMERS": "off"}) as stack:
            timeline.say("local stack", f"ready at {stack.url} (DynamoDB Local, moto, one worker pool per function)")
            story = Story(stack, timeline)
            story.clock()
            story.reviewers_segment()
            story.shop_sends_events()
            story.events_announced()
            story.enters_reviewers()
            story.profile_and_activity()
            story.replay_is_harmless()
        timeline.say("local stack", "stopped")
    except StoryFailed as failure:
        print(f"\nthe story broke: {failure}", file=sys.stderr)
        return 1
    print("\ndone: every step of the story so far happened as promised.")
    return 0
