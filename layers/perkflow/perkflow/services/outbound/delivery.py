"""The outbound function's use case: one SQS batch of one destination's queue, delivered.

Per message the answer is one of:
- delivered (or nothing to send): acknowledged;
- transient failure: reported as a batch item failure, so SQS redelivers it (on its last allowed receive it
  goes to the DLQ instead, with the last reason, so that every dead letter says why);
- throttled (a long ``Retry-After``, or no rate-limit slot before the deadline): queued again with a delay
  and acknowledged, so back-pressure never counts towards the DLQ;
- permanent failure or not a valid event: sent to the destination's DLQ with the reason, acknowledged;
- destination paused (by the operator, or Klaviyo without authorisation): parked, acknowledged, released
  when it resumes; a lost authorisation discovered mid-batch parks what was not delivered;
- destination disabled: acknowledged without sending.
Control messages on the same queue release parked messages page by page (``unpark``) and run the Klaviyo
customer backfill (``klaviyo.sync``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from perkflow.domain.events import DomainEvent
from perkflow.domain.outbound.payloads import InvalidOutboundMessage, parse_envelope
from perkflow.domain.timeutil import iso
from perkflow.services.outbound.directory import Directory, control, read_control
from perkflow.services.outbound.klaviyo_auth import AuthorizationUnavailable, RefreshUnavailable
from perkflow.services.outbound.ports import ParkingLot, Queues
from perkflow.services.outbound.runner import Result, Verdict
from perkflow.services.outbound.senders import Sender

UNPARK_PAGE = 100
MAX_DEFER_SECONDS = 900  # SQS's longest DelaySeconds


@dataclass(frozen=True)
class QueuedMessage:
    message_id: str
    body: str
    receive_count: int = 1


@dataclass
class BatchReport:
    """What happened to a batch: the ids SQS must redeliver, and counts for the log."""

    retry: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)  # message id -> why it is retried or dead

    def count(self, what: str, number: int = 1) -> None:
        if number:
            self.counts[what] = self.counts.get(what, 0) + number


ControlHandler = Callable[[str, Mapping[str, Any], float], None]  # (destination, message, deadline); raises to retry


class Delivery:
    def __init__(
        self,
        directory: Directory,
        senders: Mapping[str, Sender],
        parking: ParkingLot,
        queues: Queues,
        now: Callable[[], datetime],
        max_receives: int,
        controls: Mapping[str, ControlHandler] | None = None,
    ) -> None:
        self.directory = directory
        self.senders = senders
        self.parking = parking
        self.queues = queues
        self.now = now
        self.max_receives = max_receives
        self.controls: dict[str, ControlHandler] = {"unpark": self.unpark}
        self.controls.update(controls or {})

    def deliver(self, destination: str, messages: Sequence[QueuedMessage], deadline: float) -> BatchReport:
        report = BatchReport()
        resolved = self.directory.resolve(destination)
        ordinary: list[QueuedMessage] = []
        for message in messages:
            order = read_control(message.body)
            if order is not None and order.get("perkflow_control") == "unpark":
                self._run_control(destination, message, order, deadline, report)
            else:
                ordinary.append(message)
        if not ordinary:
            return report
        if not resolved.destination.enabled:
            report.count("dropped_disabled", len(ordinary))
            return report
        if resolved.paused:
            self._park(destination, ordinary, report)
            return report
        events: list[tuple[str, DomainEvent]] = []
        by_id = {message.message_id: message for message in ordinary}
        for message in ordinary:
            order = read_control(message.body)
            if order is not None:
                self._run_control(destination, message, order, deadline, report)
                continue
            try:
                events.append((message.message_id, parse_envelope(message.body)))
            except InvalidOutboundMessage as exc:
                self._dead(destination, message, str(exc), None, report)
        if not events:
            return report
        try:
            results = self.senders[destination].send(resolved.destination, events, deadline)
        except AuthorizationUnavailable:
            self._park(destination, [by_id[message_id] for message_id, _ in events], report)
            return report
        except RefreshUnavailable as exc:
            results = {message_id: Result(Verdict.RETRY, f"{destination}: {exc}") for message_id, _ in events}
        lost: list[QueuedMessage] = []
        deferred: dict[int, list[QueuedMessage]] = {}
        for message_id, result in results.items():
            message = by_id[message_id]
            if result.verdict in (Verdict.DELIVERED, Verdict.SKIPPED):
                report.count(result.verdict.value)
            elif result.verdict is Verdict.DEAD:
                self._dead(destination, message, result.reason, result.status, report)
            elif result.verdict is Verdict.AUTH_LOST:
                lost.append(message)
            elif result.verdict is Verdict.DEFER:
                delay = min(MAX_DEFER_SECONDS, max(1, math.ceil(result.retry_after or 1)))
                deferred.setdefault(delay, []).append(message)
            else:
                self._retry(destination, message, result, report)
        if lost:
            self._park(destination, lost, report)
        for delay, messages in deferred.items():
            self._defer(destination, messages, delay, report)
        return report

    def _defer(self, destination: str, messages: Sequence[QueuedMessage], delay: int, report: BatchReport) -> None:
        """Queue a copy after ``delay`` seconds and acknowledge this one (a fresh receive count)."""
        try:
            self.queues.send(destination, [message.body for message in messages], delay_seconds=delay)
        except Exception:  # could not queue the copies: SQS redelivers the originals instead
            for message in messages:
                report.retry.append(message.message_id)
                report.reasons[message.message_id] = "throttled; could not defer"
            report.count("retry", len(messages))
            return
        report.count("deferred", len(messages))

    # -- outcomes -------------------------------------------------------------------------------------------------
    def _retry(self, destination: str, message: QueuedMessage, result: Result, report: BatchReport) -> None:
        if message.receive_count >= self.max_receives:
            reason = f"gave up after {message.receive_count} receives: {result.reason}"
            self._dead(destination, message, reason, result.status, report)
            return
        report.retry.append(message.message_id)
        report.reasons[message.message_id] = result.reason
        report.count("retry")

    def _dead(
        self, destination: str, message: QueuedMessage, reason: str, status: int | None, report: BatchReport
    ) -> None:
        attributes = {
            "perkflow-destination": destination,
            "perkflow-reason": reason[:1000] or "unknown",
            "perkflow-failed-at": iso(self.now()),
            "perkflow-receive-count": str(message.receive_count),
        }
        if status is not None:
            attributes["perkflow-status"] = str(status)
        try:
            self.queues.dead_letter(destination, message.body, attributes)
        except Exception:
            report.retry.append(message.message_id)
            report.reasons[message.message_id] = "could not write to the DLQ"
            report.count("retry")
            return
        report.reasons[message.message_id] = reason
        report.count("dead_lettered")

    def _park(self, destination: str, messages: Sequence[QueuedMessage], report: BatchReport) -> None:
        self.parking.park(destination, [(message.message_id, message.body) for message in messages])
        self.directory.store.count_waiting(destination, len(messages))
        report.count("parked", len(messages))

    def _run_control(
        self,
        destination: str,
        message: QueuedMessage,
        order: Mapping[str, Any],
        deadline: float,
        report: BatchReport,
    ) -> None:
        handler = self.controls.get(str(order.get("perkflow_control")))
        if handler is None:
            self._dead(destination, message, f"unknown control message {order.get('perkflow_control')}", None, report)
            return
        try:
            handler(destination, order, deadline)
        except Exception as exc:
            self._retry(destination, message, Result(Verdict.RETRY, f"control step failed: {exc}"), report)
            return
        report.count("control")

    # -- unpark -----------------------------------------------------------------------------------------------------
    def unpark(self, destination: str, order: Mapping[str, Any], deadline: float) -> None:
        """Release one page of one shard back onto the queue, then continue with a new control message."""
        if self.directory.resolve(destination).paused:
            return  # paused again: the next resume starts over
        shard = int(order.get("shard", 0))
        page = self.parking.page(destination, shard, UNPARK_PAGE)
        if page:
            self.queues.send(destination, [parked.body for parked in page])
            self.parking.remove([parked.key for parked in page])
            self.directory.store.count_waiting(destination, -len(page))
        if len(page) == UNPARK_PAGE:
            self.queues.send(destination, [control("unpark", destination=destination, shard=shard)])
        elif shard + 1 < self.parking.shards:
            self.queues.send(destination, [control("unpark", destination=destination, shard=shard + 1)])
