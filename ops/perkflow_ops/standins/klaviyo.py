"""A Klaviyo stand-in: the API endpoints perkflow calls and the OAuth server (reference/klaviyo_smile.md).

``/api/*`` enforces: the ``revision`` header (required; the revision of the copied OpenAPI document);
``Content-Type: application/vnd.api+json`` on bodies (415); ``Authorization: Klaviyo-API-Key <key>`` or
``Bearer <access token>`` (401 when missing, unknown, expired or revoked; 403 when the token lacks the
operation's ``x-klaviyo-scopes``); every body validated against the operation's schema in the OpenAPI copy
(400 with JSON:API errors and a ``source.pointer``); Klaviyo's documented limits (metric names under 128
characters, at most 400 properties, strings up to 100 KB, 5 MB payloads, 1,000 events and no repeated
``unique_id`` per profile and metric in a bulk job, 10,000 profiles per import); each operation's rate tier
from the spec's ``x-klaviyo-ratelimit`` in fixed 1 s / 60 s windows (429 with ``Retry-After``, RateLimit-*
headers otherwise), plus an optional account-wide events budget. Events are deduplicated like Klaviyo: a
``unique_id`` repeated for the same profile and metric keeps only the first.

``/oauth/authorize`` checks client, redirect URI (any loopback port), scopes, ``state`` and the S256
``code_challenge``, then consents at once and redirects with a single-use code. ``/oauth/token`` wants a form
body and HTTP Basic client authentication; the code exchange verifies the PKCE verifier (format and hash);
every refresh rotates the refresh token (the old one is dead: ``invalid_grant``). ``/oauth/revoke`` kills a
refresh token and its access tokens.

Control routes (besides base.py's): ``POST /_standin/expire-tokens`` (every access token expires now),
``POST /_standin/oauth`` (``{"access_token_seconds": N, "deny": bool}``), ``POST /_standin/limits``
(``{"events_per_second": 50, "events_per_minute": 600}``, ``{"tiers": {"create_event": [burst, steady]}}``),
``GET /_standin/secrets`` (every credential it issued, for leak checks).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from perkflow_ops.standins import openapi
from perkflow_ops.standins.base import Reply, Request, StandIn
from perkflow_ops.standins.ratelimit import FixedWindows, Tier

JSON_API = "application/vnd.api+json"
VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
KNOWN_SCOPES = {f"{resource}:{mode}" for resource in (
    "accounts", "campaigns", "catalogs", "events", "flows", "lists", "metrics", "profiles", "segments",
    "subscriptions", "tags", "templates", "webhooks") for mode in ("read", "write")}  # fmt: skip
REDIRECT_PATH = "/v1/integrations/klaviyo/callback"
MAX_PAYLOAD = 5 * 1024 * 1024
MAX_STRING = 100 * 1024
ROUTES = {
    ("/api/events", "POST"): "create_event",
    ("/api/event-bulk-create-jobs", "POST"): "bulk_create_events",
    ("/api/profile-import", "POST"): "create_or_update_profile",
    ("/api/profile-bulk-import-jobs", "POST"): "bulk_import_profiles",
    ("/api/accounts", "GET"): "get_accounts",
}
ACCOUNT_ID = "XyZ123"


def _tier(operation_id: str) -> Tier:
    burst, steady = openapi.rate_limit(operation_id)
    return Tier(burst=int(burst.split("/")[0]), steady=int(steady.split("/")[0]))


@dataclass
class _Token:
    value: str
    refresh: str
    scopes: set[str]
    expires_at: float


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    scopes: set[str]
    challenge: str
    expires_at: float


@dataclass
class OAuthLog:
    issued: int = 0
    refreshes: int = 0
    refused_refreshes: int = 0
    revocations: int = 0
    exchanges: int = 0
    secrets: list[str] = field(default_factory=list)


class KlaviyoStandIn(StandIn):
    destination = "klaviyo"

    def __init__(self, destination: str | None = None) -> None:
        super().__init__(destination)
        self.client_id = "perkflow-local-" + secrets.token_hex(4)
        self.client_secret = secrets.token_urlsafe(24)
        self.api_key = "pk_" + secrets.token_hex(16)
        self.access_token_seconds = 3600.0
        self.deny = False
        self.windows = FixedWindows()
        self.tiers = {
            operation: _tier(operation) for operation in set(ROUTES.values()) | {"get_bulk_import_profiles_job"}
        }
        self.events_budget: Tier | None = None
        self._codes: dict[str, _Grant] = {}
        self._tokens: dict[str, _Token] = {}  # access token -> token
        self._refresh: dict[str, set[str]] = {}  # live refresh token -> its scopes
        self.oauth = OAuthLog(secrets=[self.client_secret, self.api_key])
        self.events: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.duplicates = 0
        self.profiles: dict[str, dict[str, Any]] = {}
        self.bulk_jobs: dict[str, dict[str, Any]] = {}

    # -- the stack's side ------------------------------------------------------------------------------------
    def environment(self) -> dict[str, str]:
        return {
            "PERKFLOW_KLAVIYO_CLIENT_ID": self.client_id,
            "PERKFLOW_KLAVIYO_CLIENT_SECRET": self.client_secret,
            "PERKFLOW_KLAVIYO_AUTHORIZE_URL": self.url + "/oauth/authorize",
        }

    def is_api(self, path: str) -> bool:
        return path.startswith("/api/") or path.startswith("/oauth/token")

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.events.clear()
            self.duplicates = 0
            self.profiles.clear()
            self.bulk_jobs.clear()
            self.events_budget = None
            self.tiers = {operation: _tier(operation) for operation in self.tiers}
            self.windows.reset()
            self.access_token_seconds = 3600.0
            self.deny = False
            self.oauth.refreshes = self.oauth.refused_refreshes = self.oauth.exchanges = self.oauth.revocations = 0

    def state(self) -> dict[str, Any]:
        state = super().state()
        with self._lock:
            state.update(
                accepted=list(self.events.values()),
                unique_ids=[key[2] for key in self.events],
                duplicates=self.duplicates,
                profiles=list(self.profiles.values()),
                bulk_jobs=list(self.bulk_jobs.values()),
                oauth={
                    "issued": self.oauth.issued,
                    "exchanges": self.oauth.exchanges,
                    "refreshes": self.oauth.refreshes,
                    "refused_refreshes": self.oauth.refused_refreshes,
                    "revocations": self.oauth.revocations,
                    "live_refresh_tokens": len(self._refresh),
                },
                client_id=self.client_id,
                events_budget=None if self.events_budget is None else vars(self.events_budget),
            )
        return state

    def secrets(self) -> list[str]:
        with self._lock:
            return list(self.oauth.secrets)

    def control(self, request: Request) -> Reply:
        route = request.path.rstrip("/")
        body = request.json() if request.body else {}
        if route == "/_standin/expire-tokens" and request.method == "POST":
            with self._lock:
                for token in self._tokens.values():
                    token.expires_at = min(token.expires_at, time.time() - 1)
                count = len(self._tokens)
            return Reply.json(200, {"expired": count})
        if route == "/_standin/oauth" and request.method == "POST":
            with self._lock:
                self.access_token_seconds = float(body.get("access_token_seconds", self.access_token_seconds))
                self.deny = bool(body.get("deny", False))
            return Reply.json(200, {"access_token_seconds": self.access_token_seconds, "deny": self.deny})
        if route == "/_standin/limits" and request.method == "POST":
            with self._lock:
                if "events_per_minute" in body:
                    self.events_budget = Tier(
                        int(body.get("events_per_second") or 1000), int(body["events_per_minute"])
                    )
                for operation, (burst, steady) in (body.get("tiers") or {}).items():
                    self.tiers[operation] = Tier(int(burst), int(steady))
                self.windows.reset()
            return Reply.json(
                200, {"events_budget": body.get("events_per_minute"), "tiers": list(body.get("tiers") or {})}
            )
        return super().control(request)

    # -- errors in Klaviyo's shapes -----------------------------------------------------------------------------
    def error(self, status: int, code: str, detail: str, headers: Mapping[str, str] | None = None,
              pointer: str | None = None) -> Reply:  # fmt: skip
        item: dict[str, Any] = {"id": secrets.token_hex(8), "status": status, "code": code,
                                "title": code.replace("_", " ").capitalize(), "detail": detail}  # fmt: skip
        if pointer is not None:
            item["source"] = {"pointer": pointer}
        return Reply.json(status, {"errors": [item]}, headers, JSON_API)

    def _oauth_error(self, status: int, error: str, description: str = "") -> Reply:
        body = {"error": error, "error_description": description} if description else {"error": error}
        return Reply.json(status, body)

    # -- dispatch ----------------------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        if request.path == "/oauth/authorize":
            return self._authorize(request)
        if request.path == "/oauth/token":
            return self._token(request)
        if request.path == "/oauth/revoke":
            return self._revoke(request)
        if request.path.startswith("/api/profile-bulk-import-jobs/") and request.method == "GET":
            return self._api(request, "get_bulk_import_profiles_job", "/api/profile-bulk-import-jobs/{job_id}")
        operation = ROUTES.get((request.path, request.method))
        if operation is None:
            return self.error(404, "not_found", f"{request.method} {request.path} is not an endpoint")
        return self._api(request, operation, request.path)

    def _api(self, request: Request, operation: str, spec_path: str) -> Reply:
        revision = request.headers.get("revision")
        if not revision:
            return self.error(400, "missing_revision", "The revision header is required.")
        if not re.match(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$", revision) or revision != openapi.revision():
            return self.error(
                400, "invalid_revision", f"Revision {revision} is not supported (use {openapi.revision()})."
            )
        spec = openapi.operation(spec_path, request.method)
        assert spec is not None
        authorised = self._authenticate(request, set(spec.get("x-klaviyo-scopes", [])))
        if isinstance(authorised, Reply):
            return authorised
        body: Any = None
        if request.method == "POST":
            if request.headers.get("content-type", "").split(";")[0].strip() != JSON_API:
                return self.error(415, "unsupported_media_type", f"Content-Type must be {JSON_API}")
            if len(request.body) > MAX_PAYLOAD:
                return self.error(413, "payload_too_large", "The payload is over 5 MB.")
            try:
                body = json.loads(request.body)
            except ValueError:
                return self.error(400, "invalid", "The body is not valid JSON.")
            problems = openapi.body_errors(spec_path, request.method, body)
            if problems:
                pointer, message = problems[0]
                return self.error(400, "invalid", message, pointer=pointer)
            problem = _limits(body)
            if problem:
                return self.error(400, "invalid", problem)
        charges = [(operation, self.tiers[operation], 1)]
        events = _event_count(operation, body)
        if self.events_budget is not None and events:
            charges.append(("account-events", self.events_budget, events))
        decision = self.windows.take(charges)
        if not decision.allowed:
            return self.throttled(decision.retry_after)
        handler = getattr(self, f"_op_{operation}")
        reply: Reply = handler(request, body)
        if 200 <= reply.status < 300:
            reply.headers.update(decision.headers or {})
        return reply

    def _authenticate(self, request: Request, needed: set[str]) -> Reply | None:
        authorization = request.headers.get("authorization", "")
        scheme, _, value = authorization.partition(" ")
        if scheme == "Klaviyo-API-Key" and value:
            if secrets.compare_digest(value, self.api_key):
                return None
            return self.error(401, "authentication_failed", "Incorrect authentication credentials.")
        if scheme == "Bearer" and value:
            with self._lock:
                token = self._tokens.get(value)
            if token is None or token.expires_at <= time.time():
                return self.error(401, "authentication_failed", "The access token is invalid or expired.")
            if not needed <= token.scopes:
                return self.error(403, "permission_denied", f"Missing scopes: {sorted(needed - token.scopes)}")
            return None
        return self.error(401, "not_authenticated", "Authentication credentials were not provided.")

    # -- operations ------------------------------------------------------------------------------------------------
    def _op_create_event(self, request: Request, body: Any) -> Reply:
        attributes = body["data"]["attributes"]
        problem = _event_problem(attributes)
        if problem:
            return self.error(400, "invalid", problem)
        profile = self._upsert(attributes["profile"]["data"])
        if isinstance(profile, Reply):
            return profile
        self._record_event(profile, attributes)
        return Reply(202)

    def _op_bulk_create_events(self, request: Request, body: Any) -> Reply:
        elements = body["data"]["attributes"]["events-bulk-create"]["data"]
        total = sum(len(element["attributes"]["events"]["data"]) for element in elements)
        if total > 1000:
            return self.error(400, "invalid", "A bulk job holds at most 1,000 events.")
        seen: set[tuple[str, str, str]] = set()
        for element in elements:
            identity = _identity(element["attributes"]["profile"]["data"]["attributes"])
            if identity is None:
                return self.error(400, "invalid", "A profile needs an identifier.")
            for event in element["attributes"]["events"]["data"]:
                problem = _event_problem({**event["attributes"], "profile": element["attributes"]["profile"]})
                if problem:
                    return self.error(400, "invalid", problem)
                key = (identity, _metric(event["attributes"]), str(event["attributes"].get("unique_id")))
                if key[2] != "None" and key in seen:
                    return self.error(400, "invalid", "A unique_id is repeated for one profile and metric.")
                seen.add(key)
        for element in elements:
            profile = self._upsert(element["attributes"]["profile"]["data"])
            if isinstance(profile, Reply):
                return profile
            for event in element["attributes"]["events"]["data"]:
                self._record_event(profile, event["attributes"])
        return Reply(202)

    def _op_create_or_update_profile(self, request: Request, body: Any) -> Reply:
        profile = self._upsert(body["data"])
        if isinstance(profile, Reply):
            return profile
        return Reply.json(
            200, {"data": {"type": "profile", "id": profile["id"], "attributes": profile}}, None, JSON_API
        )

    def _op_bulk_import_profiles(self, request: Request, body: Any) -> Reply:
        profiles = body["data"]["attributes"]["profiles"]["data"]
        if len(profiles) > 10_000:
            return self.error(400, "invalid", "At most 10,000 profiles per import job.")
        for profile in profiles:
            if len(json.dumps(profile).encode()) > 100 * 1024:
                return self.error(400, "invalid", "A profile is over 100 KB.")
            if _identity(profile.get("attributes", {})) is None:
                return self.error(400, "invalid", "A profile needs an identifier.")
        failed = 0
        for profile in profiles:
            if isinstance(self._upsert(profile), Reply):
                failed += 1
        job_id = "job_" + secrets.token_hex(6)
        now = datetime.now(UTC).isoformat()
        job = {"type": "profile-bulk-import-job", "id": job_id, "attributes": {
            "status": "complete", "created_at": now, "total_count": len(profiles),
            "completed_count": len(profiles) - failed, "failed_count": failed, "completed_at": now,
            "expires_at": (datetime.now(UTC) + timedelta(days=7)).isoformat()}}  # fmt: skip
        with self._lock:
            self.bulk_jobs[job_id] = job
        return Reply.json(202, {"data": job}, None, JSON_API)

    def _op_get_bulk_import_profiles_job(self, request: Request, body: Any) -> Reply:
        job_id = request.path.rsplit("/", 1)[-1]
        with self._lock:
            job = self.bulk_jobs.get(job_id)
        if job is None:
            return self.error(404, "not_found", "No such job.")
        return Reply.json(200, {"data": job}, None, JSON_API)

    def _op_get_accounts(self, request: Request, body: Any) -> Reply:
        account = {"type": "account", "id": ACCOUNT_ID, "attributes": {"contact_information": {
            "organization_name": "Dunder Mifflin (local)"}}}  # fmt: skip
        return Reply.json(200, {"data": [account], "links": {"self": self.url + "/api/accounts"}}, None, JSON_API)

    # -- profiles and events -----------------------------------------------------------------------------------------
    def _upsert(self, resource: dict[str, Any]) -> dict[str, Any] | Reply:
        attributes = resource.get("attributes", {})
        with self._lock:
            matches = {
                profile["id"]
                for profile in self.profiles.values()
                for name in ("email", "external_id", "phone_number")
                if attributes.get(name) and profile.get(name) == attributes.get(name)
            }
            if len(matches) > 1:
                return self.error(409, "duplicate_profile", "A profile already exists with one of these identifiers.")
            if matches:
                profile = self.profiles[matches.pop()]
            else:
                profile = {"id": "01" + secrets.token_hex(12).upper(), "properties": {}}
                self.profiles[profile["id"]] = profile
            for name in ("email", "external_id", "phone_number", "first_name", "last_name"):
                if attributes.get(name):
                    profile[name] = attributes[name]
            profile["properties"] = {**profile["properties"], **(attributes.get("properties") or {})}
            return profile

    def _record_event(self, profile: dict[str, Any], attributes: dict[str, Any]) -> None:
        metric = _metric(attributes)
        unique_id = str(attributes.get("unique_id") or attributes.get("time") or time.time())
        key = (profile["id"], metric, unique_id)
        with self._lock:
            if key in self.events:
                self.duplicates += 1
                return
            self.events[key] = {
                "metric": metric,
                "unique_id": unique_id,
                "profile": {name: profile.get(name) for name in ("id", "email", "external_id")},
                "profile_properties": dict(profile["properties"]),
                "properties": attributes.get("properties"),
                "time": attributes.get("time"),
                "value": attributes.get("value"),
            }

    # -- OAuth -------------------------------------------------------------------------------------------------------
    def _client(self, request: Request) -> bool:
        authorization = request.headers.get("authorization", "")
        if not authorization.lower().startswith("basic "):
            return False
        try:
            client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return client_id == self.client_id and secrets.compare_digest(secret, self.client_secret)

    def _authorize(self, request: Request) -> Reply:
        query = request.query
        redirect = query.get("redirect_uri", "")
        parts = urlsplit(redirect)
        if query.get("client_id") != self.client_id:
            return Reply.json(400, {"error": "invalid_client"})
        if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost") or parts.path != REDIRECT_PATH:
            return Reply.json(400, {"error": "invalid_request", "error_description": "redirect_uri is not registered"})
        problem = None
        scopes = set(query.get("scope", "").split())
        if query.get("response_type") != "code":
            problem = ("unsupported_response_type", "response_type must be code")
        elif not scopes or not scopes <= KNOWN_SCOPES:
            problem = ("invalid_scope", "unknown scopes")
        elif not query.get("state"):
            problem = ("invalid_request", "state is required")
        elif query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            problem = ("invalid_request", "PKCE with code_challenge_method=S256 is required")
        elif self.deny:
            problem = ("access_denied", "the user declined")
        if problem:
            location = redirect + "?" + urlencode({"error": problem[0], "error_description": problem[1],
                                                   "state": query.get("state", "")})  # fmt: skip
            return Reply(302, headers={"Location": location})
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Grant(self.client_id, redirect, scopes, query["code_challenge"], time.time() + 600)
            self.oauth.secrets.append(code)
        return Reply(302, headers={"Location": redirect + "?" + urlencode({"code": code, "state": query["state"]})})

    def _token(self, request: Request) -> Reply:
        if request.method != "POST":
            return self._oauth_error(405, "invalid_request")
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return self._oauth_error(400, "invalid_grant_type", "use a form body")
        if not self._client(request):
            return self._oauth_error(401, "invalid_client")
        form = {name: values[-1] for name, values in parse_qs(request.body.decode()).items()}
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._exchange(form)
        if grant_type == "refresh_token":
            return self._rotate(form)
        return self._oauth_error(400, "unsupported_grant_type")

    def _exchange(self, form: dict[str, str]) -> Reply:
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)
        if grant is None or grant.expires_at < time.time():
            return self._oauth_error(400, "invalid_grant", "the code is unknown, used or expired")
        if form.get("redirect_uri") != grant.redirect_uri:
            return self._oauth_error(400, "invalid_grant", "redirect_uri does not match")
        verifier = form.get("code_verifier", "")
        if not VERIFIER.match(verifier):
            return self._oauth_error(400, "invalid_grant", 'Invalid "code_verifier"')
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != grant.challenge:
            return self._oauth_error(400, "invalid_grant", "Code challenge failed.")
        with self._lock:
            self.oauth.exchanges += 1
        return self._issue(grant.scopes)

    def _rotate(self, form: dict[str, str]) -> Reply:
        refresh = form.get("refresh_token", "")
        with self._lock:
            scopes = self._refresh.pop(refresh, None)
            if scopes is None:
                self.oauth.refused_refreshes += 1
                return self._oauth_error(400, "invalid_grant", "the refresh token is invalid or was rotated")
            self.oauth.refreshes += 1
            for access, token in list(self._tokens.items()):
                if token.refresh == refresh:
                    del self._tokens[access]
        return self._issue(scopes)

    def _issue(self, scopes: set[str]) -> Reply:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[access] = _Token(access, refresh, set(scopes), time.time() + self.access_token_seconds)
            self._refresh[refresh] = set(scopes)
            self.oauth.issued += 1
            self.oauth.secrets += [access, refresh]
            seconds = self.access_token_seconds
        return Reply.json(200, {"access_token": access, "token_type": "Bearer", "expires_in": int(seconds),
                                "refresh_token": refresh, "scope": " ".join(sorted(scopes))})  # fmt: skip

    def _revoke(self, request: Request) -> Reply:
        if not self._client(request):
            return self._oauth_error(401, "invalid_client")
        form = {name: values[-1] for name, values in parse_qs(request.body.decode()).items()}
        token = form.get("token", "")
        with self._lock:
            if self._refresh.pop(token, None) is not None:
                self.oauth.revocations += 1
            for access, issued in list(self._tokens.items()):
                if token in (access, issued.refresh):
                    del self._tokens[access]
        return Reply(200)


def _identity(attributes: dict[str, Any]) -> str | None:
    for name in ("email", "external_id", "phone_number", "anonymous_id", "_kx"):
        if attributes.get(name):
            return f"{name}:{attributes[name]}"
    return None


def _metric(attributes: dict[str, Any]) -> str:
    return str(attributes["metric"]["data"]["attributes"]["name"])


def _event_count(operation: str, body: Any) -> int:
    if operation == "create_event":
        return 1
    if operation == "bulk_create_events" and isinstance(body, dict):
        elements = body["data"]["attributes"]["events-bulk-create"]["data"]
        return sum(len(element["attributes"]["events"]["data"]) for element in elements)
    return 0


def _event_problem(attributes: dict[str, Any]) -> str | None:
    if len(_metric(attributes)) >= 128:
        return "The metric name must be less than 128 characters."
    if _identity(attributes["profile"]["data"].get("attributes", {})) is None:
        return "The profile needs at least one identifier."
    if len(attributes.get("properties") or {}) > 400:
        return "An event has at most 400 properties."
    moment = attributes.get("time")
    if moment is not None:
        try:
            when = datetime.fromisoformat(str(moment).replace("Z", "+00:00"))
        except ValueError:
            return "time is not an ISO-8601 date-time."
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        if when.year < 1990 or when > datetime.now(UTC) + timedelta(days=365):
            return "time must be after 1990 and at most a year ahead."
    return None


def _limits(value: Any) -> str | None:
    """Strings up to 100 KB anywhere; inside each ``properties`` object at most 10 levels of nesting and
    arrays of at most 4,000 items (Klaviyo's limits on event and profile data)."""
    if isinstance(value, dict):
        for key, item in value.items():
            problem = _too_long(item) if key == "properties" else _limits(item)
            if problem:
                return problem
    elif isinstance(value, list):
        for item in value:
            problem = _limits(item)
            if problem:
                return problem
    elif isinstance(value, str) and len(value.encode()) > MAX_STRING:
        return "Strings are limited to 100 KB."
    return None


def _too_long(value: Any, depth: int = 0) -> str | None:
    if depth > 10:
        return "Nesting is limited to 10 levels."
    if isinstance(value, str) and len(value.encode()) > MAX_STRING:
        return "Strings are limited to 100 KB."
    if isinstance(value, dict):
        for item in value.values():
            problem = _too_long(item, depth + 1)
            if problem:
                return problem
    if isinstance(value, list):
        if len(value) > 4000:
            return "Arrays are limited to 4,000 items."
        for item in value:
            problem = _too_long(item, depth + 1)
            if problem:
                return problem
    return None
