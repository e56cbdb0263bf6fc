"""A small client for perkflow's own API, for operator commands (stdlib only, no SDK)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

DEFAULT_URL = "http://127.0.0.1:3000"


def base_url(explicit: str | None = None) -> str:
    """``--api``/``--local`` if given, else $PERKFLOW_API_URL, else the local stack's default address."""
    return str(explicit or os.environ.get("PERKFLOW_API_URL") or DEFAULT_URL).rstrip("/")


def call(method: str, url: str, body: Any = None, *, auth: bool = True, timeout: float = 30) -> Any:
    """One JSON request with X-App-Id/X-App-Token from the environment; RuntimeError on a non-2xx answer."""
    headers = {"Content-Type": "application/json"}
    if auth:
        app_id, token = os.environ.get("PERKFLOW_APP_ID"), os.environ.get("PERKFLOW_APP_TOKEN")
        if not app_id or not token:
            raise RuntimeError("set PERKFLOW_APP_ID and PERKFLOW_APP_TOKEN (the local stack prints them)")
        headers.update({"X-App-Id": app_id, "X-App-Token": token})
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            raw = answer.read()
    except urllib.error.HTTPError as error:
        with error:
            detail = error.read()[:300].decode(errors="replace")
        raise RuntimeError(f"{method} {urlsplit(url).path} answered {error.code}: {detail}") from error
    return json.loads(raw) if raw else None


def progress_bar(done: float, width: int = 30) -> str:
    filled = max(0, min(width, round(done * width)))
    return "[" + "#" * filled + "." * (width - filled) + f"] {done:4.0%}"
