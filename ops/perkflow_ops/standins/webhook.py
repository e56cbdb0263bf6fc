"""A merchant's webhook receiver for perkflow's Voucherify-style webhooks (reference/voucherify.md §3.11).

On its endpoint (the root path, which PERKFLOW_OUT_WEBHOOK_URL points at) it enforces what a careful
receiver checks: ``POST`` with ``Content-Type: application/json``; ``x-voucherify-signature`` = hex
HMAC-SHA256 of exactly the bytes received (401 otherwise); a compact JSON body (no insignificant
whitespace, 400 otherwise); the envelope (``id``, ``type``, ``created_at``, ``data``, ``event.id``); 1 MB at
most (413). It dedupes on the envelope ``id`` (the catalogue event id): a repeat is answered 200 and counted
as a duplicate. Any other path is a plain recording sink (200), as the local stack's sinks always were.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

from perkflow_ops.standins.base import Reply, Request, StandIn

MAX_BYTES = 1024 * 1024
ENDPOINT = "/"


class WebhookReceiver(StandIn):
    destination = "webhook"

    def __init__(self, destination: str | None = None, secret: str | None = None) -> None:
        super().__init__(destination)
        self.secret = secret or "whsec_" + secrets.token_urlsafe(24)
        self.deliveries: dict[str, dict[str, Any]] = {}
        self.duplicates = 0

    def environment(self) -> dict[str, str]:
        return {"PERKFLOW_OUT_WEBHOOK_SECRET": self.secret}

    def is_api(self, path: str) -> bool:
        return path == ENDPOINT

    def secrets(self) -> list[str]:
        return [self.secret]

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.deliveries.clear()
            self.duplicates = 0

    def state(self) -> dict[str, Any]:
        state = super().state()
        with self._lock:
            state.update(accepted=list(self.deliveries.values()), ids=list(self.deliveries), duplicates=self.duplicates)
        return state

    def handle(self, request: Request) -> Reply:
        if request.path != ENDPOINT:
            return Reply.json(200, {})
        if request.method != "POST":
            return self.error(405, "method_not_allowed", "POST only")
        if len(request.body) > MAX_BYTES:
            return self.error(413, "too_large", "body over 1 MB")
        if not request.headers.get("content-type", "").startswith("application/json"):
            return self.error(415, "unsupported_media_type", "Content-Type must be application/json")
        signature = request.headers.get("x-voucherify-signature", "")
        expected = hmac.new(self.secret.encode(), request.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, expected):
            return self.error(401, "invalid_signature", "x-voucherify-signature does not match the body")
        try:
            envelope = json.loads(request.body)
        except ValueError:
            return self.error(400, "invalid_json", "the body is not JSON")
        compact = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()
        if request.body != compact:
            return self.error(400, "not_compact", "the body is not compact JSON")
        if not isinstance(envelope, dict) or not all(key in envelope for key in ("id", "type", "created_at", "data")):
            return self.error(400, "invalid_envelope", "id, type, created_at and data are required")
        if not isinstance(envelope.get("event"), dict) or envelope["event"].get("id") != envelope["id"]:
            return self.error(400, "invalid_envelope", "event.id must be the webhook id")
        with self._lock:
            if envelope["id"] in self.deliveries:
                self.duplicates += 1
            else:
                self.deliveries[envelope["id"]] = envelope
        return Reply.json(200, {"received": True})
