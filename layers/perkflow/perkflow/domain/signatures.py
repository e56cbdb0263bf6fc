"""Request signatures, checked on the raw bytes in constant time."""

from __future__ import annotations

import hashlib
import hmac
import json


def segment_signed_bytes(body: bytes) -> bytes:
    """What a Segment webhook destination signs: the whole body of a single event, or the raw bytes of the
    first element of a batched JSON array (reference/segment.md §4; re-serialising would not match)."""
    text = body.decode("utf-8")
    start = len(text) - len(text.lstrip())
    if not text[start:].startswith("["):
        return body
    position = start + 1
    while position < len(text) and text[position].isspace():
        position += 1
    _, end = json.JSONDecoder().raw_decode(text, position)
    return text[position:end].encode("utf-8")


def segment_signature_valid(body: bytes, signature: str | None, secret: str) -> bool:
    if not signature or not secret:
        return False
    try:
        signed = segment_signed_bytes(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    expected = hmac.new(secret.encode(), signed, hashlib.sha1).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())
