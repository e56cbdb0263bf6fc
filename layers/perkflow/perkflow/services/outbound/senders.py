"""Sending a batch of catalogue events to one destination, with the request strategy each service wants.

- Segment: every event's messages packed into as few ``/v1/batch`` requests as the size limits allow.
- Klaviyo: one ``create_event`` per event at ordinary volume; when a batch holds many events, bulk
  create jobs (one profile with its events per element) within both the endpoint tiers and any event cap.
- Webhooks: one signed POST per event, several in parallel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from perkflow.domain.events import DomainEvent
from perkflow.domain.outbound import batching, payloads, wire
from perkflow.domain.outbound.destinations import Destination
from perkflow.domain.outbound.ratelimit import Limit, Pacing, pacing
from perkflow.domain.timeutil import iso
from perkflow.services.outbound.runner import DELIVERED, SKIPPED, Result, Runner, Scope, Verdict

Item = tuple[str, DomainEvent]  # (queued message id, event)
KLAVIYO_BULK_MIN_EVENTS = 10  # below this a batch goes as single create_event calls


def _pacing(limits: tuple[str, str], max_cost: int = 1) -> Pacing:
    return pacing(Limit.parse(limits[0]), Limit.parse(limits[1]), max_cost=max_cost)


SEGMENT_PACING = _pacing(wire.SEGMENT_RATE_LIMIT)
KLAVIYO_PACING = {operation: _pacing(limits) for operation, limits in wire.KLAVIYO_RATE_LIMITS.items()}


class Sender(Protocol):
    def send(self, destination: Destination, items: Sequence[Item], deadline: float) -> dict[str, Result]: ...


class SegmentSender:
    def __init__(self, runner: Runner, now: Callable[[], datetime]) -> None:
        self.runner = runner
        self.now = now

    def send(self, destination: Destination, items: Sequence[Item], deadline: float) -> dict[str, Result]:
        results: dict[str, Result] = {}
        owner: dict[str, str] = {}  # Segment messageId -> queued message id
        messages: list[dict[str, Any]] = []
        for message_id, event in items:
            built = payloads.segment_messages(event)
            if not built:
                results[message_id] = SKIPPED
            for message in built:
                owner[message["messageId"]] = message_id
                messages.append(message)
        packed = batching.segment_batches(messages)
        for message in packed.oversize:
            results[owner[message["messageId"]]] = Result(Verdict.DEAD, "segment: message over 32 KB")
        url, write_key = str(destination.url), str(destination.credential)
        for chunk in packed.chunks:
            wanted = {owner[message["messageId"]] for message in chunk} - set(results)
            if not wanted:
                continue
            result, _ = self.runner.run(
                "segment",
                lambda chunk=chunk: wire.segment_batch(url, write_key, chunk, iso(self.now())),  # type: ignore[misc]
                timeout=destination.settings.timeout_seconds,
                deadline=deadline,
                scopes=[Scope("segment:batch", SEGMENT_PACING)],
            )
            for message_id in wanted:
                _merge(results, message_id, result)
        for message_id, _ in items:
            results.setdefault(message_id, DELIVERED)
        return results


def _merge(results: dict[str, Result], message_id: str, result: Result) -> None:
    """An event whose messages went in several requests is delivered only when all of them were."""
    current = results.get(message_id)
    if current is None or current.verdict in (Verdict.DELIVERED, Verdict.SKIPPED):
        results[message_id] = result


class KlaviyoAuthorizer(Protocol):
    def authorization(self, destination: Destination) -> str:
        """The Authorization header value; raises AuthorizationUnavailable when there is none."""
        ...

    def renew(self, destination: Destination) -> bool:
        """After a 401: True when fresh credentials are ready for another try."""
        ...


@dataclass
class _Auth:
    authorizer: KlaviyoAuthorizer
    destination: Destination
    header: str = ""

    def current(self) -> str:
        if not self.header:
            self.header = self.authorizer.authorization(self.destination)
        return self.header

    def renew(self) -> bool:
        if not self.authorizer.renew(self.destination):
            return False
        self.header = self.authorizer.authorization(self.destination)
        return True


class KlaviyoSender:
    def __init__(self, runner: Runner, authorizer: KlaviyoAuthorizer) -> None:
        self.runner = runner
        self.authorizer = authorizer

    def _event_scopes(self, destination: Destination, operation: str, events: int) -> list[Scope]:
        scopes = [Scope(f"klaviyo:{operation}", KLAVIYO_PACING[operation])]
        cap = destination.settings.rate_limits
        if cap is not None:
            rule = self.event_cap(destination)
            scopes.append(Scope("klaviyo:events", rule, min(events, rule.max_cost)))
        return scopes

    @staticmethod
    def event_cap(destination: Destination) -> Pacing:
        cap = destination.settings.rate_limits
        assert cap is not None
        return pacing(
            Limit(cap.events_per_second, 1.0),
            Limit(cap.events_per_minute, 60.0),
            max_cost=batching.KLAVIYO_BULK_MAX_EVENTS,
        )

    def _max_bulk_events(self, destination: Destination) -> int:
        if destination.settings.rate_limits is None:
            return batching.KLAVIYO_BULK_MAX_EVENTS
        return self.event_cap(destination).max_cost

    def send(self, destination: Destination, items: Sequence[Item], deadline: float) -> dict[str, Result]:
        results: dict[str, Result] = {}
        resources: list[tuple[str, dict[str, Any]]] = []
        naming = destination.settings.property_names
        for message_id, event in items:
            resource = payloads.klaviyo_event(event, naming)
            if resource is None:
                results[message_id] = SKIPPED
            else:
                resources.append((message_id, resource))
        auth = _Auth(self.authorizer, destination)
        if len(resources) >= KLAVIYO_BULK_MIN_EVENTS:
            results.update(self._bulk(destination, resources, auth, deadline))
        else:
            for message_id, resource in resources:
                results[message_id] = self._single(destination, resource, auth, deadline)
        return results

    def _single(self, destination: Destination, resource: dict[str, Any], auth: _Auth, deadline: float) -> Result:
        base = str(destination.url)
        body = payloads.klaviyo_create_event_body(resource)
        result, _ = self.runner.run(
            "klaviyo",
            lambda: wire.klaviyo("POST", base, "/api/events", auth.current(), body),
            timeout=destination.settings.timeout_seconds,
            deadline=deadline,
            scopes=self._event_scopes(destination, "create_event", 1),
            refresh=auth.renew,
        )
        return result

    def _bulk(
        self, destination: Destination, resources: list[tuple[str, dict[str, Any]]], auth: _Auth, deadline: float
    ) -> dict[str, Result]:
        results: dict[str, Result] = {}
        unique = batching.without_duplicate_unique_ids([resource for _, resource in resources])
        kept = {id(resource) for resource in unique}
        for message_id, resource in resources:
            if id(resource) not in kept:
                results[message_id] = SKIPPED  # a repeat of an event of this batch: Klaviyo keeps the first
        packed = batching.klaviyo_event_chunks(unique, self._max_bulk_events(destination))
        by_resource = {id(resource): message_id for message_id, resource in resources}
        for resource in packed.oversize:
            results[by_resource[id(resource)]] = Result(Verdict.DEAD, "klaviyo: event over 100 KB")
        base = str(destination.url)
        for chunk in packed.chunks:
            body = batching.klaviyo_bulk_body(chunk)
            result, _ = self.runner.run(
                "klaviyo",
                lambda body=body: wire.klaviyo("POST", base, "/api/event-bulk-create-jobs", auth.current(), body),  # type: ignore[misc]
                timeout=destination.settings.timeout_seconds,
                deadline=deadline,
                scopes=self._event_scopes(destination, "bulk_create_events", len(chunk)),
                refresh=auth.renew,
            )
            if result.verdict is Verdict.DEAD:
                # One bad event fails a whole bulk request: send them one by one so only it goes to the DLQ.
                for resource in chunk:
                    single = self._single(destination, resource, auth, deadline)
                    results[by_resource[id(resource)]] = single
                continue
            for resource in chunk:
                results[by_resource[id(resource)]] = result
        return results

    def import_profiles(
        self, destination: Destination, profiles: Sequence[dict[str, Any]], deadline: float
    ) -> tuple[Result, list[str]]:
        """Bulk profile import jobs for a backfill page; the Klaviyo job ids created."""
        auth = _Auth(self.authorizer, destination)
        base = str(destination.url)
        jobs: list[str] = []
        packed = batching.klaviyo_profile_chunks(profiles)
        for chunk in packed.chunks:
            body = batching.klaviyo_profile_import_body(chunk)
            result, answer = self.runner.run(
                "klaviyo",
                lambda body=body: wire.klaviyo("POST", base, "/api/profile-bulk-import-jobs", auth.current(), body),  # type: ignore[misc]
                timeout=destination.settings.timeout_seconds,
                deadline=deadline,
                scopes=self._event_scopes(destination, "bulk_import_profiles", 1)[:1],
                refresh=auth.renew,
            )
            if result.verdict is not Verdict.DELIVERED:
                return result, jobs
            created = wire.json_body(answer.body) if answer else None
            if isinstance(created, dict) and isinstance(created.get("data"), dict):
                jobs.append(str(created["data"].get("id")))
        return DELIVERED, jobs


class WebhookSender:
    PARALLEL = 8

    def __init__(self, runner: Runner, project_id: str) -> None:
        self.runner = runner
        self.project_id = project_id

    def send(self, destination: Destination, items: Sequence[Item], deadline: float) -> dict[str, Result]:
        url, secret = str(destination.url), str(destination.credential)

        def deliver(item: Item) -> tuple[str, Result]:
            message_id, event = item
            envelope = payloads.webhook_envelope(event, project_id=self.project_id, target_url=url)
            request = wire.webhook(url, secret, envelope)
            result, _ = self.runner.run(
                "webhook", lambda: request, timeout=destination.settings.timeout_seconds, deadline=deadline
            )
            return message_id, result

        if len(items) <= 1:
            return dict(deliver(item) for item in items)
        with ThreadPoolExecutor(max_workers=min(self.PARALLEL, len(items))) as pool:
            return dict(pool.map(deliver, items))


def senders_by_name(segment: SegmentSender, klaviyo: KlaviyoSender, webhook: WebhookSender) -> Mapping[str, Sender]:
    return {"segment": segment, "klaviyo": klaviyo, "webhook": webhook}
