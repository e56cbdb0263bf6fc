"""What the outbound services need from the outside world (structural types the adapters satisfy)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from perkflow.domain.outbound.destinations import DestinationSettings
from perkflow.domain.outbound.model import (
    Answer,
    Connection,
    Parked,
    PendingAuthorization,
    Snapshot,
    SyncJob,
    TokenGrant,
    Tokens,
)
from perkflow.domain.outbound.ratelimit import Pacing
from perkflow.domain.outbound.wire import HttpRequest


class Transport(Protocol):
    def send(self, request: HttpRequest, timeout: float) -> Answer: ...


class Timer(Protocol):
    """Real time (rate limits and deadlines run on it, never on the local stack's frozen clock)."""

    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def draw(self) -> float:
        """Uniform in [0, 1), for jitter."""
        ...


class RateLimiter(Protocol):
    def reserve(self, scope: str, rule: Pacing, cost: int, horizon: float) -> float | None:
        """Book ``cost`` units of ``scope``; the epoch second the request may go, or None beyond ``horizon``."""
        ...

    def hold(self, scope: str, rule: Pacing, seconds: float) -> None:
        """Nobody sends on ``scope`` for ``seconds`` (after a 429)."""
        ...


class DestinationStore(Protocol):
    def load(self, names: Sequence[str]) -> Snapshot: ...

    def save(self, name: str, settings: DestinationSettings) -> None: ...

    def delete(self, name: str) -> None: ...

    def count_waiting(self, name: str, delta: int) -> None: ...

    def bump_credentials_version(self) -> None: ...


class CredentialStore(Protocol):
    """Write-only destination credentials (Secrets Manager)."""

    def credentials(self, version: int) -> dict[str, str]:
        """The stored credentials (re-read when ``version`` differs from the one cached)."""
        ...

    def set(self, destination: str, value: str | None) -> None: ...


class ConnectionStore(Protocol):
    def connection(self) -> Connection: ...

    def save_connection(self, connection: Connection) -> None: ...

    def remember(self, state: str, pending: PendingAuthorization) -> None: ...

    def take(self, state: str) -> PendingAuthorization | None:
        """The pending authorisation of ``state``, removed (single use); None when unknown or used."""
        ...

    def acquire(self, lease: str, holder: str, seconds: float) -> bool: ...

    def release(self, lease: str, holder: str) -> None: ...


class TokenStore(Protocol):
    """The OAuth tokens, encrypted at rest (Secrets Manager)."""

    def read(self) -> Tokens | None: ...

    def write(self, tokens: Tokens | None) -> None: ...


class OAuthClient(Protocol):
    def authorization_url(
        self,
        *,
        authorize_url: str,
        client_id: str,
        redirect_uri: str,
        scopes: Sequence[str],
        state: str,
        challenge: str,
    ) -> str: ...

    def exchange_code(
        self, *, token_url: str, client_id: str, client_secret: str, code: str, verifier: str, redirect_uri: str
    ) -> TokenGrant: ...

    def refresh(self, *, token_url: str, client_id: str, client_secret: str, refresh_token: str) -> TokenGrant: ...

    def revoke(self, *, revoke_url: str, client_id: str, client_secret: str, refresh_token: str) -> None: ...


class ParkingLot(Protocol):
    """Messages of a paused destination, kept until it resumes."""

    def park(self, destination: str, messages: Sequence[tuple[str, str]]) -> None:
        """Store ``(message id, body)`` pairs."""
        ...

    def page(self, destination: str, shard: int, limit: int) -> list[Parked]: ...

    def remove(self, keys: Sequence[dict[str, str]]) -> None: ...

    shards: int


class Queues(Protocol):
    def send(self, destination: str, bodies: Sequence[str], delay_seconds: int = 0) -> None: ...

    def dead_letter(self, destination: str, body: str, attributes: Mapping[str, str]) -> None: ...


class CustomerPages(Protocol):
    def page(self, start: Mapping[str, Any] | None, limit: int) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Customers (as ``{id, source_id, email, name, merged_into}``) and where the next page starts."""
        ...


class SyncJobs(Protocol):
    def create(self, job: SyncJob) -> None: ...

    def get(self, job_id: str) -> SyncJob | None: ...

    def latest(self) -> SyncJob | None: ...

    def advance(self, job: SyncJob, expected_cursor: str | None) -> bool:
        """Store ``job`` if the stored cursor is still ``expected_cursor`` (False: a replayed step)."""
        ...
