"""Executes :class:`~perkflow.domain.outbound.wire.HttpRequest` with ``requests`` (one session per thread,
keep-alive). A timeout or a connection failure is an answer without a status; nothing here retries."""

from __future__ import annotations

import random
import threading
import time
from typing import TYPE_CHECKING

from perkflow.domain.outbound.model import Answer
from perkflow.domain.outbound.wire import HttpRequest

if TYPE_CHECKING:
    import requests

CONNECT_TIMEOUT = 3.05
MAX_ANSWER_BYTES = 1_000_000


class RequestsTransport:
    def __init__(self) -> None:
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = requests.Session()
            self._local.session = session
        return session

    def send(self, request: HttpRequest, timeout: float) -> Answer:
        import requests

        try:
            response = self._session().request(
                request.method,
                request.url,
                data=request.body,
                headers=dict(request.headers),
                timeout=(min(CONNECT_TIMEOUT, timeout), timeout),
                allow_redirects=False,
            )
        except requests.Timeout:
            return Answer(status=None, error="timeout")
        except requests.RequestException as exc:
            return Answer(status=None, error=type(exc).__name__)
        with response:
            body = response.content[:MAX_ANSWER_BYTES]
        return Answer(
            status=response.status_code,
            headers={name.lower(): value for name, value in response.headers.items()},
            body=body,
        )


class SystemTimer:
    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def draw(self) -> float:
        return random.random()
