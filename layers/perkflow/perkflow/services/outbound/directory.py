"""Destinations as configured: stored settings, write-only credentials, the environment's overrides, and
whether each one is delivering, paused (by the operator, or because Klaviyo's authorisation is missing or
lost) or disabled. Also the ``/v1/destinations`` use cases.

Pausing is the operator's ``paused: true`` or a Klaviyo without a usable authorisation. A paused
destination's messages are parked (kept in the table, nothing is called); resuming releases them onto its
queue again through ``unpark`` control messages that page through the parked messages.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from perkflow.domain.errors import InvalidPayload, NotFound
from perkflow.domain.outbound.catalogue import DESTINATIONS
from perkflow.domain.outbound.destinations import (
    CREDENTIAL_FIELDS,
    DEFAULT_URLS,
    Destination,
    DestinationSettings,
    DestinationUpdate,
)
from perkflow.domain.outbound.model import Connection, Snapshot, StoredDestination
from perkflow.services.outbound.ports import ConnectionStore, CredentialStore, DestinationStore, Queues

CONTROL_KEY = "perkflow_control"
API_KEY_REFUSED = "api_key_refused"
# A second unpark pass after this long catches messages a batch parked while the destination was resuming.
SWEEP_DELAY_SECONDS = 120


@dataclass(frozen=True)
class Environment:
    """What the function's environment sets (DESIGN §6 variables)."""

    urls: Mapping[str, str | None] = field(default_factory=dict)
    credentials: Mapping[str, str | None] = field(default_factory=dict, repr=False)
    oauth_configured: bool = False


@dataclass(frozen=True)
class Resolved:
    destination: Destination
    waiting: int = 0
    pause_reason: str | None = None  # None: delivering
    connection: Connection | None = None

    @property
    def paused(self) -> bool:
        return self.pause_reason is not None


def control(kind: str, **fields: Any) -> str:
    return json.dumps({CONTROL_KEY: kind, **fields}, separators=(",", ":"))


def read_control(body: str) -> dict[str, Any] | None:
    if CONTROL_KEY not in body:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) and CONTROL_KEY in data else None


class Directory:
    def __init__(
        self,
        environment: Environment,
        store: DestinationStore,
        credentials: CredentialStore,
        connections: ConnectionStore,
        queues: Queues,
        now: Callable[[], datetime],
    ) -> None:
        self.environment = environment
        self.store = store
        self.credentials = credentials
        self.connections = connections
        self.queues = queues
        self.now = now

    # -- resolution ---------------------------------------------------------------------------------------------
    def resolve_all(self, names: Sequence[str] = DESTINATIONS) -> dict[str, Resolved]:
        snapshot = self.store.load(names)
        stored_credentials = self.credentials.credentials(snapshot.credentials_version)
        return {name: self._resolve(name, snapshot, stored_credentials) for name in names}

    def resolve(self, name: str) -> Resolved:
        return self.resolve_all([name])[name]

    def _resolve(self, name: str, snapshot: Snapshot, stored_credentials: Mapping[str, str]) -> Resolved:
        stored = snapshot.destinations.get(name) or StoredDestination(DestinationSettings())
        env = self.environment
        overridden: list[str] = []
        url = stored.settings.url or DEFAULT_URLS[name]
        if env.urls.get(name):
            url = env.urls[name]
            overridden.append("url")
        credential = stored_credentials.get(name) or None
        if env.credentials.get(name):
            credential = env.credentials[name]
            overridden.append(CREDENTIAL_FIELDS[name])
        connection = snapshot.connection if name == "klaviyo" else None
        auth: Any = {"segment": "write_key", "webhook": "secret"}.get(name) if credential else None
        pause_reason = "paused" if stored.settings.paused else None
        if name == "klaviyo":
            assert connection is not None
            auth, reason = self._klaviyo_auth(connection, credential)
            pause_reason = pause_reason or reason
        destination = Destination(name, stored.settings, url, credential, tuple(overridden), auth)
        return Resolved(destination, stored.waiting, pause_reason, connection)

    def _klaviyo_auth(self, connection: Connection, api_key: str | None) -> tuple[Any, str | None]:
        """OAuth when connected (Klaviyo asks apps on OAuth to stop sending with a key); otherwise the key."""
        if connection.state == "connected":
            return "oauth", None
        if connection.state == "authorization_lost":
            return ("api_key" if api_key else "oauth"), "authorization_lost"
        if api_key:
            return "api_key", None
        if self.environment.oauth_configured:
            return "oauth", connection.state  # not_connected / disconnected: wait for a connection
        return None, None

    # -- /v1/destinations ---------------------------------------------------------------------------------------
    def _name(self, name: str) -> str:
        if name not in DESTINATIONS:
            raise NotFound(details=f"/v1/destinations/{name}")
        return name

    def describe(self, name: str) -> dict[str, Any]:
        resolved = self.resolve(self._name(name))
        extra: dict[str, Any] = {"status": "delivering" if not resolved.paused else "paused"}
        extra["pause_reason"] = resolved.pause_reason
        extra["waiting"] = resolved.waiting
        if not resolved.destination.enabled:
            extra["status"] = "disabled"
        if resolved.connection is not None:
            extra["connection"] = resolved.connection.state
        return resolved.destination.public(extra)

    def update(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        name = self._name(name)
        try:
            update = DestinationUpdate.model_validate(dict(body))
        except ValueError as exc:
            raise InvalidPayload("Invalid destination settings", details=str(exc)) from exc
        update.check_for(name)
        before = self.resolve(name)
        settings = update.applied_to(before.destination.settings)
        credential = update.credential
        if credential is not None:
            self.credentials.set(name, credential or None)
            self.store.bump_credentials_version()
            connection = before.connection
            if name == "klaviyo" and connection and connection.reason == API_KEY_REFUSED:
                self.connections.save_connection(replace(connection, state="not_connected", reason=None))
        self.store.save(name, settings)
        after = self.resolve(name)
        if before.paused and not after.paused:
            self.resume(name)
        return self.describe(name)

    def reset(self, name: str) -> None:
        """DELETE: forget the stored settings and credential (the environment's values remain)."""
        name = self._name(name)
        before = self.resolve(name)
        self.store.delete(name)
        self.credentials.set(name, None)
        self.store.bump_credentials_version()
        if before.paused and not self.resolve(name).paused:
            self.resume(name)

    def resume(self, name: str) -> None:
        """Release the parked messages: now, and once more after a delay for late parkers."""
        self.queues.send(name, [control("unpark", destination=name, shard=0)])
        self.queues.send(name, [control("unpark", destination=name, shard=0)], delay_seconds=SWEEP_DELAY_SECONDS)
