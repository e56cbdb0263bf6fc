"""Klaviyo over OAuth 2 (authorization code + PKCE S256), or a private API key.

Connect: a ``state`` (single use, 10 minutes) and a PKCE verifier are stored; the merchant opens the
authorize URL. Callback: the state is taken (so it works once), the code is exchanged with the stored
verifier, the tokens go to Secrets Manager and the connection becomes ``connected``; Klaviyo's parked
messages are released.

Tokens: refreshed 2 minutes before expiry and once after a 401. Klaviyo rotates the refresh token, so a
refresh is serialised across every container by a lease (a DynamoDB conditional write): the holder re-reads
the stored tokens, refreshes, writes them and bumps the connection's ``version``; a container that finds the
lease taken waits for the new version and reads the new tokens instead of refreshing. A refused refresh
(``invalid_grant``) or a second 401 marks the connection ``authorization_lost``: Klaviyo is paused (its
messages wait) until the merchant reconnects.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from perkflow.domain.errors import InvalidPayload, PerkflowError
from perkflow.domain.outbound.destinations import Destination
from perkflow.domain.outbound.model import Connection, OAuthError, PendingAuthorization, TokenGrant, Tokens
from perkflow.domain.outbound.security import code_challenge, new_code_verifier, new_state
from perkflow.domain.outbound.wire import klaviyo_authorization
from perkflow.domain.timeutil import iso
from perkflow.services.outbound.ports import ConnectionStore, OAuthClient, Timer, TokenStore

SCOPES = ("accounts:read", "events:write", "profiles:read", "profiles:write", "lists:write")
REFRESH_MARGIN_SECONDS = 120
STATE_TTL_SECONDS = 600
TOKEN_LEASE = "klaviyo-tokens"  # noqa: S105 - a lease name, not a secret
LEASE_SECONDS = 30
WAIT_FOR_REFRESH_SECONDS = 20
API_KEY_REFUSED = "api_key_refused"  # the reason a refused private key is recorded with
_REFUSED = {"invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope"}


class AuthorizationUnavailable(Exception):
    """Klaviyo cannot be called now: not connected, disconnected or the authorisation was lost."""

    def __init__(self, state: str, reason: str = "") -> None:
        super().__init__(reason or state)
        self.state = state
        self.reason = reason or state


class RefreshUnavailable(Exception):
    """A transient failure to refresh (the token endpoint down, the lease held too long): try later."""


@dataclass(frozen=True)
class OAuthSettings:
    client_id: str | None
    client_secret: str | None
    redirect_uri: str | None
    authorize_url: str
    api_url: str  # API and token host

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)

    @property
    def token_url(self) -> str:
        return self.api_url.rstrip("/") + "/oauth/token"

    @property
    def revoke_url(self) -> str:
        return self.api_url.rstrip("/") + "/oauth/revoke"


class KlaviyoTokens:
    """The Authorization header for Klaviyo calls, refreshing OAuth tokens safely (see the module doc)."""

    def __init__(
        self,
        oauth: OAuthSettings,
        connections: ConnectionStore,
        tokens: TokenStore,
        client: OAuthClient,
        timer: Timer,
        now: Callable[[], datetime],
    ) -> None:
        self.oauth = oauth
        self.connections = connections
        self.tokens = tokens
        self.client = client
        self.timer = timer
        self.now = now
        self.holder = secrets.token_hex(8)
        self._cached: Tokens | None = None
        self._lock = threading.Lock()

    # -- KlaviyoAuthorizer ------------------------------------------------------------------------------------
    def authorization(self, destination: Destination) -> str:
        if destination.auth == "api_key":
            return klaviyo_authorization(api_key=str(destination.credential))
        with self._lock:
            tokens = self._current()
            if tokens.expires_at - REFRESH_MARGIN_SECONDS <= self.timer.time():
                tokens = self._refresh(seen_version=tokens.version)
            return klaviyo_authorization(access_token=tokens.access_token)

    def renew(self, destination: Destination) -> bool:
        if destination.auth == "api_key":
            self.lose(API_KEY_REFUSED)
            return False
        with self._lock:
            seen = self._cached.version if self._cached else -1
            try:
                self._refresh(seen_version=seen)
            except AuthorizationUnavailable:
                return False
            return True

    # -- token keeping ----------------------------------------------------------------------------------------
    def _current(self) -> Tokens:
        connection = self.connections.connection()
        if connection.state != "connected":
            raise AuthorizationUnavailable(connection.state, connection.reason or "")
        if self._cached is None or self._cached.version != connection.version:
            stored = self.tokens.read()
            if stored is None:
                raise AuthorizationUnavailable("not_connected", "no tokens are stored")
            self._cached = stored
        return self._cached

    def _refresh(self, seen_version: int) -> Tokens:
        deadline = self.timer.time() + WAIT_FOR_REFRESH_SECONDS
        while self.timer.time() < deadline:
            if self.connections.acquire(TOKEN_LEASE, self.holder, LEASE_SECONDS):
                try:
                    return self._refresh_holding_lease(seen_version)
                finally:
                    self.connections.release(TOKEN_LEASE, self.holder)
            # Someone else is refreshing: wait for their tokens rather than burn the refresh token again.
            self.timer.sleep(0.1 + 0.1 * self.timer.draw())
            connection = self.connections.connection()
            if connection.state != "connected":
                raise AuthorizationUnavailable(connection.state, connection.reason or "")
            if connection.version > seen_version:
                self._cached = None
                return self._current()
        raise RefreshUnavailable("another container held the token refresh too long")

    def _refresh_holding_lease(self, seen_version: int) -> Tokens:
        connection = self.connections.connection()
        if connection.state != "connected":
            raise AuthorizationUnavailable(connection.state, connection.reason or "")
        if connection.version > seen_version:
            self._cached = None
            return self._current()
        stored = self.tokens.read()  # the newest refresh token, read under the lease
        if stored is None:
            raise AuthorizationUnavailable("not_connected", "no tokens are stored")
        try:
            grant = self.client.refresh(
                token_url=self.oauth.token_url,
                client_id=str(self.oauth.client_id),
                client_secret=str(self.oauth.client_secret),
                refresh_token=stored.refresh_token,
            )
        except OAuthError as exc:
            if exc.error in _REFUSED or exc.status in (400, 401, 403):
                self._mark_lost(connection, f"Klaviyo refused the refresh token ({exc.error})")
                raise AuthorizationUnavailable("authorization_lost", exc.error) from exc
            raise RefreshUnavailable(str(exc.error)) from exc
        fresh = Tokens(
            access_token=grant.access_token,
            refresh_token=grant.refresh_token or stored.refresh_token,
            expires_at=self.timer.time() + grant.expires_in,
            scope=grant.scope or stored.scope,
            version=max(connection.version, stored.version) + 1,
        )
        self.tokens.write(fresh)  # first the tokens, then the version that tells others to read them
        self.connections.save_connection(
            replace(
                connection,
                version=fresh.version,
                expires_at=fresh.expires_at,
                scope=fresh.scope,
                refreshed_at=iso(self.now()),
            )
        )
        self._cached = fresh
        return fresh

    def _mark_lost(self, connection: Connection, reason: str) -> None:
        self.connections.save_connection(
            replace(connection, state="authorization_lost", reason=reason, changed_at=iso(self.now()))
        )

    def lose(self, reason: str) -> None:
        """The credentials were refused for good: pause Klaviyo until someone fixes them."""
        self._mark_lost(self.connections.connection(), reason)

    # -- the connection's life cycle (the API's side) ---------------------------------------------------------
    def connect(self, redirect_uri: str) -> str:
        """The URL the merchant opens to authorise perkflow."""
        if not self.oauth.configured:
            raise InvalidPayload(
                "Klaviyo OAuth is not configured",
                key="integration_not_configured",
                details="set PERKFLOW_KLAVIYO_CLIENT_ID and PERKFLOW_KLAVIYO_CLIENT_SECRET",
            )
        redirect = self.oauth.redirect_uri or redirect_uri
        verifier, state = new_code_verifier(), new_state()
        self.connections.remember(
            state, PendingAuthorization(verifier, redirect, self.timer.time() + STATE_TTL_SECONDS)
        )
        return self.client.authorization_url(
            authorize_url=self.oauth.authorize_url,
            client_id=str(self.oauth.client_id),
            redirect_uri=redirect,
            scopes=SCOPES,
            state=state,
            challenge=code_challenge(verifier),
        )

    def complete(self, state: str | None, code: str | None, error: str | None) -> Connection:
        """The callback: checked by the single-use state and the stored verifier."""
        pending = self.connections.take(state) if state else None
        if pending is None or pending.expires_at < self.timer.time():
            raise InvalidPayload("Unknown or expired authorisation state", key="invalid_state", details="state")
        if error:
            raise PerkflowError("Klaviyo did not authorise perkflow", key="authorization_denied", details=error)
        if not code:
            raise InvalidPayload("The callback carries no code", details="code")
        try:
            grant = self.client.exchange_code(
                token_url=self.oauth.token_url,
                client_id=str(self.oauth.client_id),
                client_secret=str(self.oauth.client_secret),
                code=code,
                verifier=pending.verifier,
                redirect_uri=pending.redirect_uri,
            )
        except OAuthError as exc:
            raise PerkflowError(
                "Klaviyo refused the authorisation code", key="authorization_failed", details=exc.error
            ) from exc
        if not grant.refresh_token:
            raise PerkflowError("Klaviyo sent no refresh token", key="authorization_failed")
        with self._lock:
            return self._store_grant(grant)

    def _store_grant(self, grant: TokenGrant) -> Connection:
        deadline = self.timer.time() + WAIT_FOR_REFRESH_SECONDS
        while not self.connections.acquire(TOKEN_LEASE, self.holder, LEASE_SECONDS):
            if self.timer.time() > deadline:
                raise PerkflowError("The connection is busy, try again", key="conflict", status=409)
            self.timer.sleep(0.1)
        try:
            previous = self.connections.connection()
            stored = self.tokens.read()
            version = max(previous.version, stored.version if stored else 0) + 1
            tokens = Tokens(
                access_token=grant.access_token,
                refresh_token=str(grant.refresh_token),
                expires_at=self.timer.time() + grant.expires_in,
                scope=grant.scope,
                version=version,
            )
            self.tokens.write(tokens)
            now = iso(self.now())
            connection = Connection(
                state="connected",
                version=version,
                expires_at=tokens.expires_at,
                scope=tokens.scope,
                account_id=previous.account_id,
                connected_at=now,
                refreshed_at=now,
                changed_at=now,
            )
            self.connections.save_connection(connection)
            self._cached = tokens
            return connection
        finally:
            self.connections.release(TOKEN_LEASE, self.holder)

    def disconnect(self) -> Connection:
        """Revoke the refresh token at Klaviyo and forget the tokens."""
        deadline = self.timer.time() + WAIT_FOR_REFRESH_SECONDS
        while not self.connections.acquire(TOKEN_LEASE, self.holder, LEASE_SECONDS):
            if self.timer.time() > deadline:
                raise PerkflowError("The connection is busy, try again", key="conflict", status=409)
            self.timer.sleep(0.1)
        try:
            stored = self.tokens.read()
            if stored is not None and self.oauth.configured:
                try:
                    self.client.revoke(
                        revoke_url=self.oauth.revoke_url,
                        client_id=str(self.oauth.client_id),
                        client_secret=str(self.oauth.client_secret),
                        refresh_token=stored.refresh_token,
                    )
                except OAuthError as exc:
                    if exc.status is None or exc.status >= 500:
                        raise PerkflowError(
                            "Klaviyo could not revoke the token, try again", key="upstream_unavailable", status=502
                        ) from exc
            self.tokens.write(None)
            previous = self.connections.connection()
            connection = replace(
                previous,
                state="disconnected",
                version=previous.version + 1,
                expires_at=None,
                reason="disconnected through the API",
                changed_at=iso(self.now()),
            )
            self.connections.save_connection(connection)
            self._cached = None
            return connection
        finally:
            self.connections.release(TOKEN_LEASE, self.holder)

    def record_account(self, account_id: str) -> None:
        self.connections.save_connection(replace(self.connections.connection(), account_id=account_id))
