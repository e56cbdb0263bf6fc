"""HTTP requests to each destination, as data: URL, headers, body bytes. An adapter only executes them.

- Segment: ``POST <base>/v1/batch``, ``Content-Type: application/json``, HTTP Basic ``writeKey:``
  (reference/segment.md §2.2), ``sentAt`` on the envelope.
- Klaviyo: ``<base>/api/...`` with ``revision`` = the revision of the OpenAPI copy perkflow is built against,
  JSON:API media types, and ``Authorization: Klaviyo-API-Key <key>`` or ``Bearer <access token>``.
- Webhooks: ``POST <url>`` with the compact JSON body and ``x-voucherify-signature`` over exactly those bytes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from perkflow.domain.outbound.payloads import compact_json
from perkflow.domain.outbound.security import SIGNATURE_HEADER, webhook_signature

# The revision of the Klaviyo OpenAPI document perkflow is built and tested against (info.version of the copy
# in ops/perkflow_ops/standins/specs/).
KLAVIYO_REVISION = "2026-07-15"
JSON_API = "application/vnd.api+json"
USER_AGENT = "perkflow/1.0"


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None

    def __repr__(self) -> str:  # never print headers: they carry credentials
        return f"HttpRequest({self.method} {self.url}, {len(self.body or b'')} bytes)"


def join(base: str, path: str) -> str:
    return base.rstrip("/") + path


def segment_batch(base_url: str, write_key: str, messages: Sequence[Mapping[str, Any]], sent_at: str) -> HttpRequest:
    token = base64.b64encode(f"{write_key}:".encode()).decode("ascii")
    body = compact_json({"batch": list(messages), "sentAt": sent_at})
    headers = {"Content-Type": "application/json", "Authorization": f"Basic {token}", "User-Agent": USER_AGENT}
    return HttpRequest("POST", join(base_url, "/v1/batch"), headers, body)


def klaviyo_authorization(*, api_key: str | None = None, access_token: str | None = None) -> str:
    if access_token:
        return f"Bearer {access_token}"
    if api_key:
        return f"Klaviyo-API-Key {api_key}"
    raise ValueError("Klaviyo needs an API key or an access token")


def klaviyo(
    method: str, base_url: str, path: str, authorization: str, body: Mapping[str, Any] | None = None
) -> HttpRequest:
    headers = {
        "Authorization": authorization,
        "revision": KLAVIYO_REVISION,
        "Accept": JSON_API,
        "User-Agent": USER_AGENT,
    }
    data = None
    if body is not None:
        headers["Content-Type"] = JSON_API
        data = compact_json(body)
    return HttpRequest(method, join(base_url, path), headers, data)


def webhook(url: str, secret: str, envelope: Mapping[str, Any]) -> HttpRequest:
    body = compact_json(envelope)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: webhook_signature(secret, body),
        "User-Agent": USER_AGENT,
    }
    return HttpRequest("POST", url, headers, body)


def json_body(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


# x-klaviyo-ratelimit of each operation perkflow calls, from the OpenAPI copy (a test holds them to it).
KLAVIYO_RATE_LIMITS: dict[str, tuple[str, str]] = {
    "create_event": ("350/s", "3500/m"),
    "bulk_create_events": ("10/s", "150/m"),
    "bulk_import_profiles": ("10/s", "150/m"),
    "get_bulk_import_profiles_job": ("10/s", "150/m"),
    "get_accounts": ("1/s", "15/m"),
}
# Segment asks partner sources to stay under 50 requests per second (reference/segment.md §2.5).
SEGMENT_RATE_LIMIT: tuple[str, str] = ("50/s", "3000/m")
