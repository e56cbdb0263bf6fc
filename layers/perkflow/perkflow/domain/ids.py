"""Prefixed identifiers (``cust_``, ``camp_``, ``v_``, ``pub_``, ``r_``, ``evt_`` ...).

Random ids take 24 base-62 characters from the OS CSPRNG, as Voucherify's do. Stable ids (the same input
always gives the same id) hash a natural key, so a replayed input re-creates the same event id instead of a
new one.
"""

from __future__ import annotations

import hashlib
import secrets

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_LENGTH = 24


def new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))


def stable_id(prefix: str, *parts: str) -> str:
    digest = int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:18], "big")
    chars = []
    for _ in range(_LENGTH):
        digest, rem = divmod(digest, 62)
        chars.append(_ALPHABET[rem])
    return prefix + "".join(chars)
