"""Webhook signatures and OAuth PKCE: standard-library cryptography only.

- ``x-voucherify-signature`` = hex HMAC-SHA256(secret, the exact body bytes) (reference/voucherify.md §3.11).
- PKCE S256 (RFC 7636, reference/klaviyo_smile.md §1): a verifier of 43-128 characters of
  ``[A-Za-z0-9-._~]``; the challenge is base64url(SHA-256(verifier)) without padding.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

SIGNATURE_HEADER = "x-voucherify-signature"
VERIFIER_PATTERN = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


def webhook_signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def webhook_signature_valid(secret: str, body: bytes, signature: str | None) -> bool:
    if not signature or not secret:
        return False
    return hmac.compare_digest(webhook_signature(secret, body), signature.strip().lower())


def new_code_verifier() -> str:
    verifier = secrets.token_urlsafe(72)[:96]  # 96 characters of the URL-safe alphabet
    assert VERIFIER_PATTERN.match(verifier)
    return verifier


def code_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_state() -> str:
    return secrets.token_urlsafe(32)
