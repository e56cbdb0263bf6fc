"""A Segment HTTP Tracking API stand-in (reference/segment.md §2), as perkflow's outbound sees Segment.

It enforces: ``POST`` to ``/v1/batch`` (``/v1/import``) or ``/v1/<type>``; ``Content-Type: application/json``
(gzip accepted); the write key as HTTP Basic user or ``writeKey`` in the body (401 otherwise); 32 KB per
message and 500 KB per request (400); valid JSON (400); a request rate (429 with ``Retry-After`` and
``X-RateLimit-Reset``). Like Segment it answers 200 and then drops what it does not accept: messages without
``type``, without ``userId``/``anonymousId``, a ``track`` without ``event``, a ``messageId`` over 100
characters, batches over 2,500 messages, and repeated ``messageId``s (dedupe; counted as duplicates).
"""

from __future__ import annotations

import base64
import gzip
import json
import secrets
from datetime import UTC, datetime
from typing import Any

from perkflow_ops.standins.base import Reply, Request, StandIn
from perkflow_ops.standins.ratelimit import FixedWindows, Tier

TYPES = ("identify", "track", "page", "screen", "group", "alias")
MAX_MESSAGE_BYTES = 32 * 1024
MAX_REQUEST_BYTES = 500 * 1024
MAX_BATCH = 2500


class SegmentStandIn(StandIn):
    destination = "segment"

    def __init__(self, destination: str | None = None, write_key: str | None = None) -> None:
        super().__init__(destination)
        self.write_key = write_key or "wk_" + secrets.token_urlsafe(18)
        self.tier = Tier(burst=1000, steady=60_000)
        self.windows = FixedWindows()
        self.messages: dict[str, dict[str, Any]] = {}
        self.duplicates = 0
        self.dropped: list[dict[str, Any]] = []

    def environment(self) -> dict[str, str]:
        return {"PERKFLOW_OUT_SEGMENT_WRITE_KEY": self.write_key}

    def is_api(self, path: str) -> bool:
        return path.startswith("/v1/")

    def secrets(self) -> list[str]:
        return [self.write_key]

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.messages.clear()
            self.duplicates = 0
            self.dropped.clear()
            self.tier = Tier(burst=1000, steady=60_000)
            self.windows.reset()

    def state(self) -> dict[str, Any]:
        state = super().state()
        with self._lock:
            state.update(
                accepted=list(self.messages.values()),
                message_ids=list(self.messages),
                duplicates=self.duplicates,
                dropped=list(self.dropped),
                write_key_hint=self.write_key[:3] + "...",
            )
        return state

    def control(self, request: Request) -> Reply:
        if request.path.rstrip("/") == "/_standin/limits" and request.method == "POST":
            body = request.json() or {}
            per_second = int(body.get("requests_per_second") or 1000)
            with self._lock:
                self.tier = Tier(burst=per_second, steady=int(body.get("requests_per_minute") or per_second * 60))
                self.windows.reset()
            return Reply.json(200, {"requests_per_second": self.tier.burst, "requests_per_minute": self.tier.steady})
        return super().control(request)

    def throttled(self, seconds: float) -> Reply:
        headers = {"Retry-After": str(seconds), "X-RateLimit-Reset": str(seconds)}
        return Reply.json(429, {"code": "rate_limited", "message": "Too many requests"}, headers)

    def handle(self, request: Request) -> Reply:
        kind = request.path.removeprefix("/v1/").rstrip("/")
        if request.method != "POST" or kind not in (*TYPES, "batch", "import"):
            return self.error(404, "not_found", "Not Found")
        if not request.headers.get("content-type", "").startswith("application/json"):
            return self.error(400, "invalid_request", "Content-Type must be application/json")
        body = request.body
        if request.headers.get("content-encoding", "").lower() == "gzip":
            try:
                body = gzip.decompress(body)
            except OSError:
                return self.error(400, "invalid_request", "the body is not gzip")
        if len(body) > MAX_REQUEST_BYTES:
            return self.error(400, "invalid_request", "request over 500 KB")
        try:
            payload = json.loads(body)
        except ValueError:
            return self.error(400, "invalid_request", "invalid JSON")
        if not isinstance(payload, dict):
            return self.error(400, "invalid_request", "the body must be a JSON object")
        if not self._authorised(request, payload):
            return self.error(401, "invalid_write_key", "Invalid write key")
        decision = self.windows.take([("requests", self.tier, 1)])
        if not decision.allowed:
            return self.throttled(decision.retry_after)
        if kind in TYPES:
            messages: list[Any] = [{**payload, "type": kind}]
        else:
            batch = payload.get("batch")
            if not isinstance(batch, list):
                return self.error(400, "invalid_request", "batch must be an array")
            messages = batch
        for message in messages:
            if len(json.dumps(message).encode()) > MAX_MESSAGE_BYTES:
                return self.error(400, "invalid_request", "message over 32 KB")
        if len(messages) > MAX_BATCH:
            with self._lock:
                self.dropped.append({"reason": "batch_too_large", "count": len(messages)})
            return Reply.json(200, {"success": True})
        for message in messages:
            self._accept(message, payload)
        return Reply.json(200, {"success": True})

    def _authorised(self, request: Request, payload: dict[str, Any]) -> bool:
        key = payload.get("writeKey")
        authorization = request.headers.get("authorization", "")
        if authorization.lower().startswith("basic "):
            try:
                key = base64.b64decode(authorization[6:]).decode().split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                return False
        return isinstance(key, str) and secrets.compare_digest(key, self.write_key)

    def _accept(self, message: Any, envelope: dict[str, Any]) -> None:
        reason = None
        if not isinstance(message, dict) or message.get("type") not in TYPES:
            reason = "invalid_type"
        elif not (message.get("userId") or message.get("anonymousId")):
            reason = "no_user_anon_id"
        elif message["type"] == "track" and not message.get("event"):
            reason = "missing_event"
        elif len(str(message.get("messageId") or "")) > 100:
            reason = "message_id_too_long"
        with self._lock:
            if reason is not None:
                self.dropped.append({"reason": reason, "message": message})
                return
            message_id = str(message.get("messageId") or secrets.token_hex(8))
            if message_id in self.messages:
                self.duplicates += 1
                return
            # receivedAt: when Segment's servers got the message, as Segment stamps it.
            received_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            self.messages[message_id] = {**message, "sentAt": envelope.get("sentAt"), "receivedAt": received_at}
