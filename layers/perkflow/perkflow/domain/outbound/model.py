"""Values the outbound services and adapters exchange (pure data: no AWS or HTTP library)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from perkflow.domain.outbound.destinations import DestinationSettings


@dataclass(frozen=True)
class Answer:
    """A destination's answer; ``status`` None when there was none (timeout, refused connection)."""

    status: int | None
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    error: str | None = None


@dataclass(frozen=True)
class StoredDestination:
    settings: DestinationSettings
    waiting: int = 0
    pause_reason: str | None = None
    updated_at: str | None = None


@dataclass(frozen=True)
class Connection:
    """The Klaviyo OAuth connection's status (no secret in it)."""

    state: str = "not_connected"  # not_connected | connected | authorization_lost | disconnected
    version: int = 0  # bumped by every token write
    expires_at: float | None = None
    scope: str = ""
    account_id: str | None = None
    connected_at: str | None = None
    refreshed_at: str | None = None
    reason: str | None = None
    changed_at: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """Everything delivery needs to know about the destinations, read in one go."""

    destinations: dict[str, StoredDestination]
    connection: Connection
    credentials_version: int = 0


@dataclass(frozen=True)
class Tokens:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: float
    scope: str = ""
    version: int = 0


@dataclass(frozen=True)
class PendingAuthorization:
    verifier: str = field(repr=False)
    redirect_uri: str
    expires_at: float


class OAuthError(Exception):
    """The token endpoint refused: ``error`` is OAuth's code (``invalid_grant`` ...); ``status`` its HTTP code."""

    def __init__(self, error: str, status: int | None = None, description: str = "") -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.status = status


@dataclass(frozen=True)
class TokenGrant:
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_in: float
    scope: str = ""


@dataclass(frozen=True)
class Parked:
    key: dict[str, str]
    body: str


@dataclass(frozen=True)
class SyncJob:
    job_id: str
    status: str  # running | done | failed
    started_at: str
    cursor: str | None = None  # JSON of the next page's start; None on the first page
    scanned: int = 0
    sent: int = 0
    skipped: int = 0
    pages: int = 0
    finished_at: str | None = None
    import_jobs: tuple[str, ...] = ()
    error: str | None = None

    def public(self) -> dict[str, Any]:
        return {
            "object": "klaviyo_sync",
            "id": self.job_id,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "customers_scanned": self.scanned,
            "profiles_sent": self.sent,
            "customers_skipped": self.skipped,
            "pages": self.pages,
            "import_jobs": list(self.import_jobs),
            "error": self.error,
        }
