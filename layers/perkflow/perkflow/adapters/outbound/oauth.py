"""Klaviyo's OAuth endpoints through requests-oauthlib (reference/klaviyo_smile.md §1).

The authorize and callback steps run in different invocations, so perkflow makes and stores the PKCE
verifier itself (keyed by ``state``) and hands it to ``fetch_token``; no session keeps state between calls.
The token endpoint takes form bodies with HTTP Basic client authentication; refresh tokens rotate, and the
caller persists the new one. Revocation posts ``token`` + ``token_type_hint=refresh_token`` with Basic auth.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from perkflow.domain.outbound.model import OAuthError, TokenGrant

TIMEOUT = 10.0
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _grant(token: dict[str, Any]) -> TokenGrant:
    scope = token.get("scope") or ""
    return TokenGrant(
        access_token=str(token["access_token"]),
        refresh_token=token.get("refresh_token"),
        expires_in=float(token.get("expires_in") or 3600),
        scope=" ".join(scope) if isinstance(scope, list) else str(scope),
    )


class RequestsOAuthClient:
    def __init__(self) -> None:
        # Klaviyo may grant a narrower scope set than requested; oauthlib would raise a Warning without this.
        os.environ.setdefault("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")

    @staticmethod
    def _allow_loopback(*urls: str) -> None:
        """oauthlib insists on HTTPS; the local stand-in on 127.0.0.1 is plain HTTP (never anything else)."""
        if all(urlsplit(url).hostname in LOOPBACK for url in urls):
            os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"

    def authorization_url(
        self,
        *,
        authorize_url: str,
        client_id: str,
        redirect_uri: str,
        scopes: Sequence[str],
        state: str,
        challenge: str,
    ) -> str:
        from requests_oauthlib import OAuth2Session

        self._allow_loopback(authorize_url, redirect_uri)
        session = OAuth2Session(client_id, redirect_uri=redirect_uri, scope=list(scopes))
        url, _ = session.authorization_url(
            authorize_url, state=state, code_challenge=challenge, code_challenge_method="S256"
        )
        return str(url)

    def exchange_code(
        self, *, token_url: str, client_id: str, client_secret: str, code: str, verifier: str, redirect_uri: str
    ) -> TokenGrant:
        from requests_oauthlib import OAuth2Session

        self._allow_loopback(token_url)
        session = OAuth2Session(client_id, redirect_uri=redirect_uri)
        return self._token_call(
            lambda: session.fetch_token(
                token_url,
                code=code,
                client_secret=client_secret,
                code_verifier=verifier,
                timeout=TIMEOUT,
            )
        )

    def refresh(self, *, token_url: str, client_id: str, client_secret: str, refresh_token: str) -> TokenGrant:
        from requests.auth import HTTPBasicAuth
        from requests_oauthlib import OAuth2Session

        self._allow_loopback(token_url)
        session = OAuth2Session(client_id, token={"refresh_token": refresh_token, "token_type": "Bearer"})
        return self._token_call(
            lambda: session.refresh_token(
                token_url,
                refresh_token=refresh_token,
                auth=HTTPBasicAuth(client_id, client_secret),
                timeout=TIMEOUT,
            )
        )

    def revoke(self, *, revoke_url: str, client_id: str, client_secret: str, refresh_token: str) -> None:
        import requests
        from requests.auth import HTTPBasicAuth

        try:
            response = requests.post(
                revoke_url,
                data={"token": refresh_token, "token_type_hint": "refresh_token"},
                auth=HTTPBasicAuth(client_id, client_secret),
                timeout=TIMEOUT,
            )
        except requests.RequestException as exc:
            raise OAuthError("unavailable", None, type(exc).__name__) from exc
        if response.status_code >= 400:
            raise OAuthError(_error_code(response), response.status_code)

    @staticmethod
    def _token_call(call: Any) -> TokenGrant:
        import requests
        from oauthlib.oauth2.rfc6749.errors import OAuth2Error

        try:
            token = call()
        except OAuth2Error as exc:
            raise OAuthError(str(exc.error or "invalid_request"), exc.status_code, str(exc.description or "")) from exc
        except requests.RequestException as exc:
            raise OAuthError("unavailable", None, type(exc).__name__) from exc
        except ValueError as exc:  # a non-JSON answer (e.g. a 5xx page)
            raise OAuthError("unavailable", None, "the token endpoint did not answer JSON") from exc
        return _grant(dict(token))


def _error_code(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return "server_error" if response.status_code >= 500 else "invalid_request"
    return str(body.get("error") or "invalid_request") if isinstance(body, dict) else "invalid_request"
