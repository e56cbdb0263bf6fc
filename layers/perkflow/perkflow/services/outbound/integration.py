"""The Klaviyo integration as the API shows it: connect, callback, status, disconnect, customer sync."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from perkflow.domain.outbound.model import Connection
from perkflow.domain.outbound.wire import json_body, klaviyo
from perkflow.domain.timeutil import iso
from perkflow.services.outbound.backfill import CustomerSync
from perkflow.services.outbound.directory import Directory
from perkflow.services.outbound.klaviyo_auth import KlaviyoTokens
from perkflow.services.outbound.runner import Runner, Scope, Verdict
from perkflow.services.outbound.senders import KLAVIYO_PACING

CALLBACK_PATH = "/v1/integrations/klaviyo/callback"


class KlaviyoIntegration:
    def __init__(self, tokens: KlaviyoTokens, directory: Directory, sync: CustomerSync, runner: Runner) -> None:
        self.tokens = tokens
        self.directory = directory
        self.sync = sync
        self.runner = runner

    def connect(self, api_base_url: str) -> dict[str, Any]:
        return {"authorize_url": self.tokens.connect(api_base_url.rstrip("/") + CALLBACK_PATH)}

    def callback(self, state: str | None, code: str | None, error: str | None) -> dict[str, Any]:
        self.tokens.complete(state, code, error)
        self._record_account()
        self.directory.resume("klaviyo")
        return self.status()

    def _record_account(self) -> None:
        """The connected account's id, asked once at install (get_accounts is limited to 1/s, 15/m)."""
        destination = self.directory.resolve("klaviyo").destination
        if not destination.url:
            return
        header = self.tokens.authorization(destination)
        timer = self.runner.timer
        result, answer = self.runner.run(
            "klaviyo",
            lambda: klaviyo("GET", str(destination.url), "/api/accounts", header),
            timeout=destination.settings.timeout_seconds,
            deadline=timer.time() + 15,
            scopes=[Scope("klaviyo:get_accounts", KLAVIYO_PACING["get_accounts"])],
        )
        body = json_body(answer.body) if answer is not None else None
        if result.verdict is Verdict.DELIVERED and isinstance(body, dict):
            accounts = body.get("data")
            if isinstance(accounts, list) and accounts and isinstance(accounts[0], dict):
                self.tokens.record_account(str(accounts[0].get("id")))

    def status(self) -> dict[str, Any]:
        resolved = self.directory.resolve("klaviyo")
        connection = resolved.connection or Connection()
        latest = self.sync.latest()
        return {
            "object": "integration",
            "name": "klaviyo",
            "status": connection.state,
            "auth": resolved.destination.auth,
            "oauth_configured": self.tokens.oauth.configured,
            "account_id": connection.account_id,
            "scope": connection.scope or None,
            "connected_at": connection.connected_at,
            "refreshed_at": connection.refreshed_at,
            "access_token_expires_at": _iso_epoch(connection.expires_at),
            "reason": connection.reason,
            "delivery": "disabled"
            if not resolved.destination.enabled
            else ("paused" if resolved.paused else "delivering"),
            "pause_reason": resolved.pause_reason,
            "waiting": resolved.waiting,
            "sync": latest.public() if latest else None,
        }

    def disconnect(self) -> dict[str, Any]:
        self.tokens.disconnect()
        return self.status()

    def start_sync(self) -> dict[str, Any]:
        return self.sync.start().public()


def _iso_epoch(epoch: float | None) -> str | None:
    return iso(datetime.fromtimestamp(epoch, UTC)) if epoch else None
