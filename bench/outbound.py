"""Outbound figures on the local stack (reference/perf.md), measured against the stand-ins:

- ``outbound_segment_requests_per_1000_events`` / ``outbound_klaviyo_requests_per_1000_events``: HTTP requests
  the Segment and Klaviyo stand-ins received for 1,000 outbound events (always 1,000: it is a count) of the
  cost mix's kinds (publications, redemptions, points) from 50 customers, put into the destinations' queues
  in EventBridge's envelope as the outbound rule does (the local bus is slower than EventBridge).
- ``outbound_rate_limit_use``: events the Klaviyo stand-in accepted while it enforced a steady 600 events/min
  (burst 50/s), in 2 minutes (x BENCH_SCALE), / the 1,200 (x BENCH_SCALE) it allows in that time. The window
  opens once every offered event is in the queue and the first has arrived: enqueueing them keeps the local
  SQS emulator (whose receives slow down as a queue grows) busy for seconds, which is its pace, not
  perkflow's. perkflow's Klaviyo destination carries the same cap (``rate_limits``), as a merchant sets it;
  1.5 times what fits is put into Klaviyo's queue at once, so perkflow is never short of work.
- ``outbound_rate_limit_lost``: events of that run never accepted (after the backlog drained).
- ``outbound_rate_limit_over``: share of that run's Klaviyo requests answered 429.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from perkflow.domain import events as ev
from perkflow_ops.local.harness import RunningStack
from perkflow_ops.standins.control import Outbound, wait_for

EVENTS = 1000
CUSTOMERS = 50
RATE_WINDOW_SECONDS = 120
STEADY_PER_MINUTE = 600
BURST_PER_SECOND = 50
OFFERED = 1.5


def mix(tag: str, count: int) -> list[ev.DomainEvent]:
    at = datetime.now(UTC).replace(microsecond=0)
    program = ev.ProgramRef(id="camp_bench", name="Bench Points")
    people = [
        ev.CustomerRef(id=f"cust_{tag}_{n}", source_id=f"bench-{tag}-{n}", email=f"bench-{tag}-{n}@example.com")
        for n in range(CUSTOMERS)
    ]
    made: list[ev.DomainEvent] = []
    for n in range(count):
        customer, event_id = people[n % CUSTOMERS], f"evt_{tag}_{n}"
        voucher = ev.VoucherRef(id=f"v_{tag}_{n}", code=f"B{tag}{n}", type="GIFT_VOUCHER", gift_amount=2500)
        if n % 10 == 0:
            made.append(ev.PublicationSucceeded(event_id=event_id, occurred_at=at, customer=customer,
                                                publication_id=f"pub_{tag}_{n}", voucher=voucher))  # fmt: skip
        elif n % 10 == 1:
            made.append(ev.RedemptionSucceeded(event_id=event_id, occurred_at=at, customer=customer,
                                               redemption_id=f"r_{tag}_{n}", voucher=voucher, amount=1500))  # fmt: skip
        else:
            made.append(ev.LoyaltyPointsEarned(event_id=event_id, occurred_at=at, customer=customer, program=program,
                                               points=10, balance=10 * n, source="order",
                                               transaction_id=f"ltx_{tag}_{n}"))  # fmt: skip
    return made


def _accepted(out: Outbound, destination: str, tag: str) -> list[Any]:
    key = {"segment": "message_ids", "klaviyo": "unique_ids"}[destination]
    return [item for item in out.state(destination)[key] if tag in item]


def _requests(out: Outbound, destination: str, since: float, prefix: str) -> list[dict[str, Any]]:
    return [a for a in out.state(destination)["attempts"] if a["at"] >= since and a["path"].startswith(prefix)]


def envelope(event: ev.DomainEvent, bus: str) -> str:
    """The event as the outbound rule's SQS targets receive it (EventBridge's envelope)."""
    detail = event.detail()
    return json.dumps({"version": "0", "id": str(uuid.uuid4()), "detail-type": event.DETAIL_TYPE,
                       "source": "perkflow.bench", "account": "123456789012", "time": detail["occurred_at"],
                       "region": "us-east-1", "resources": [], "detail": detail})  # fmt: skip


def feed(out: Outbound, destinations: tuple[str, ...], events: list[ev.DomainEvent]) -> None:
    """Put the events straight into the destinations' queues, as the rule would, 10 per SendMessageBatch."""
    bus = str(out.endpoints["buses"]["Bus"])
    bodies = [envelope(event, bus) for event in events]

    def send(job: tuple[str, int]) -> None:
        url, start = job
        entries: list[Any] = [
            {"Id": str(index), "MessageBody": body} for index, body in enumerate(bodies[start : start + 10])
        ]
        out.sqs.send_message_batch(QueueUrl=url, Entries=entries)

    urls = [out.queue_url(f"{destination.capitalize()}Queue") for destination in destinations]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(send, [(url, start) for url in urls for start in range(0, len(bodies), 10)]))


def requests_per_1000(out: Outbound, scale: float) -> dict[str, float | None]:
    count = EVENTS  # a count figure: 1,000 events take seconds whatever the scale
    tag = uuid.uuid4().hex[:8]
    events = mix(tag, count)
    loyalty = sum(1 for event in events if event.DETAIL_TYPE.startswith("loyalty."))
    started = time.time()
    # The local bus (moto's PutEvents, then the dispatcher) delivers a burst far slower than EventBridge; the
    # queues are fed directly so that the figure measures perkflow's batching, not the emulator's pace.
    feed(out, ("segment", "klaviyo"), events)
    wait_for(lambda: len(_accepted(out, "segment", tag)) >= count + loyalty, "Segment to receive the burst", 300)
    wait_for(lambda: len(_accepted(out, "klaviyo", tag)) >= count, "Klaviyo to receive the burst", 300)
    segment = len(_requests(out, "segment", started, "/v1/"))
    klaviyo = len(_requests(out, "klaviyo", started, "/api/"))
    print(f"  outbound burst: {count} events -> {segment} Segment requests, {klaviyo} Klaviyo requests", flush=True)
    return {
        "outbound_segment_requests_per_1000_events": round(segment * 1000 / count, 3),
        "outbound_klaviyo_requests_per_1000_events": round(klaviyo * 1000 / count, 3),
    }


def rate_limit(out: Outbound, scale: float) -> dict[str, float | None]:
    window = RATE_WINDOW_SECONDS * scale
    capacity = STEADY_PER_MINUTE * window / 60
    offered = int(capacity * OFFERED)
    tag = uuid.uuid4().hex[:8]
    cap = {"events_per_second": BURST_PER_SECOND, "events_per_minute": STEADY_PER_MINUTE}
    out.control("klaviyo", "POST", "limits", cap)
    out.destination("klaviyo", rate_limits=cap)
    try:
        started = time.time()
        feed(out, ("klaviyo",), mix(tag, offered))
        wait_for(lambda: _accepted(out, "klaviyo", tag), "Klaviyo's first event", 120)
        before = len(_accepted(out, "klaviyo", tag))
        time.sleep(window)
        in_window = len(_accepted(out, "klaviyo", tag)) - before
        drain = window * (OFFERED - 1) * 1.5 + 60
        with contextlib.suppress(TimeoutError):
            wait_for(lambda: len(_accepted(out, "klaviyo", tag)) >= offered, "the backlog to drain", drain, every=1)
        delivered = len(_accepted(out, "klaviyo", tag))
        attempts = _requests(out, "klaviyo", started, "/api/")
        throttled = sum(1 for attempt in attempts if attempt["status"] == 429)
    finally:
        out.destination("klaviyo", rate_limits=None)
        out.control("klaviyo", "POST", "limits", {"events_per_minute": 10**9, "events_per_second": 10**9})
    print(f"  outbound rate limit: {in_window} of {capacity:.0f} allowed events in {window:.0f} s, "
          f"{offered - delivered} lost, {throttled} of {len(attempts)} requests answered 429", flush=True)  # fmt: skip
    return {
        "outbound_rate_limit_use": round(min(in_window, capacity) / capacity, 3),
        "outbound_rate_limit_lost": float(offered - delivered),
        "outbound_rate_limit_over": round(throttled / len(attempts), 4) if attempts else None,
    }


def measure(stack: RunningStack, scale: float) -> dict[str, float | None]:
    out = Outbound(stack)
    out.deliver_everywhere()
    results = requests_per_1000(out, scale)
    results.update(rate_limit(out, scale))
    return results
