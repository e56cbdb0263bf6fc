"""Secrets Manager: the destinations' write-only credentials, and Klaviyo's OAuth tokens.

Both are JSON documents in secrets the template creates (encrypted at rest with KMS). Values are read once
per container and again only when the stored version moves (credentials) or the connection's token version
changes (tokens, see perkflow.services.outbound.klaviyo_auth), so a delivery rarely calls Secrets Manager.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

from perkflow.adapters import aws
from perkflow.domain.outbound.model import Tokens

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


class _Secret:
    def __init__(self, secret_id: str | None, client: SecretsManagerClient | None = None) -> None:
        self.secret_id = secret_id
        self._client = client

    @property
    def client(self) -> SecretsManagerClient:
        if self._client is None:
            self._client = aws.secretsmanager()
        return self._client

    def read(self) -> dict[str, Any]:
        if not self.secret_id:
            return {}
        value = self.client.get_secret_value(SecretId=self.secret_id).get("SecretString") or "{}"
        try:
            document = json.loads(value)
        except ValueError:
            return {}
        return document if isinstance(document, dict) else {}

    def write(self, document: dict[str, Any]) -> None:
        if not self.secret_id:
            raise RuntimeError("no secret is configured for this value")
        self.client.put_secret_value(SecretId=self.secret_id, SecretString=json.dumps(document))


class SecretCredentials:
    """CredentialStore: ``{"segment": "<write key>", "klaviyo": "<api key>", "webhook": "<secret>"}``."""

    def __init__(self, secret_id: str | None, client: SecretsManagerClient | None = None) -> None:
        self._secret = _Secret(secret_id, client)
        self._cached: tuple[int, dict[str, str]] | None = None
        self._lock = threading.Lock()

    def credentials(self, version: int) -> dict[str, str]:
        with self._lock:
            if self._cached is None or self._cached[0] != version:
                document = self._secret.read() if self._secret.secret_id else {}
                self._cached = (version, {str(k): str(v) for k, v in document.items() if v})
            return dict(self._cached[1])

    def set(self, destination: str, value: str | None) -> None:
        with self._lock:
            document = self._secret.read()
            if value:
                document[destination] = value
            else:
                document.pop(destination, None)
            self._secret.write(document)
            self._cached = None


class SecretTokens:
    """TokenStore: the OAuth tokens as one JSON document (``{}`` when there are none)."""

    def __init__(self, secret_id: str | None, client: SecretsManagerClient | None = None) -> None:
        self._secret = _Secret(secret_id, client)

    def read(self) -> Tokens | None:
        document = self._secret.read()
        if not document.get("access_token") or not document.get("refresh_token"):
            return None
        return Tokens(
            access_token=str(document["access_token"]),
            refresh_token=str(document["refresh_token"]),
            expires_at=float(document.get("expires_at") or 0),
            scope=str(document.get("scope") or ""),
            version=int(document.get("version") or 0),
        )

    def write(self, tokens: Tokens | None) -> None:
        if tokens is None:
            self._secret.write({})
            return
        self._secret.write(
            {
                "access_token": tokens.access_token,
                "refresh_token": tokens.refresh_token,
                "expires_at": tokens.expires_at,
                "scope": tokens.scope,
                "version": tokens.version,
            }
        )
